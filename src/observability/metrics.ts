import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The gateway's Prometheus metrics (prom-client), on a registry of its own so several gateways in one process
 * (tests) never collide. Served as text at /metrics.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  /**
   * GraphQL operations by operation name, type (query, mutation, subscription, or unknown when refused before
   * parsing), transport (http, ws) and outcome (`ok` or the first error code). A subscription's duration is
   * its lifetime.
   */
  readonly operations = new Histogram({
    name: 'gateway_graphql_operation_duration_seconds',
    help: 'GraphQL operations by name, type, transport and outcome, with durations (subscriptions: lifetime).',
    labelNames: ['operation', 'type', 'transport', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300],
    registers: [this.registry],
  });

  /** Provider calls (one per attempt) by endpoint and outcome. */
  readonly providerCalls = new Histogram({
    name: 'gateway_provider_call_duration_seconds',
    help: 'Provider HTTP calls (one per attempt) by endpoint and outcome, with durations.',
    labelNames: ['endpoint', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly providerRetries = new Counter({
    name: 'gateway_provider_retries_total',
    help: 'Provider call retries by endpoint and reason.',
    labelNames: ['endpoint', 'reason'] as const,
    registers: [this.registry],
  });

  /** 0 closed, 1 half-open, 2 open. */
  readonly breakerState = new Gauge({
    name: 'gateway_provider_breaker_state',
    help: 'Provider circuit breaker state: 0 closed, 1 half-open, 2 open.',
    registers: [this.registry],
  });

  readonly numbersSent = new Counter({
    name: 'gateway_provider_numbers_sent_total',
    help: 'Numbers sent to the provider, by endpoint (query: sync lookups; notify: async ones, including notify calls whose outcome is unknown).',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });

  readonly numbersSaved = new Counter({
    name: 'gateway_lookup_numbers_saved_total',
    help: 'Numbers answered without a provider call of their own, by how (cache or coalesced).',
    labelNames: ['how'] as const,
    registers: [this.registry],
  });

  /** Live values read at scrape time; the app points these at its components once they exist. */
  readonly sources = { wsConnections: () => 0, activeSubscriptions: () => 0 };

  readonly wsConnections: Gauge = new Gauge({
    name: 'gateway_websocket_connections',
    help: 'Open GraphQL WebSocket connections.',
    registers: [this.registry],
    collect: (): void => this.wsConnections.set(this.sources.wsConnections()),
  });

  readonly subscriptions: Gauge = new Gauge({
    name: 'gateway_active_subscriptions',
    help: 'Active lookupCompleted subscriptions.',
    registers: [this.registry],
    collect: (): void => this.subscriptions.set(this.sources.activeSubscriptions()),
  });

  readonly callbacks = new Counter({
    name: 'gateway_callbacks_total',
    help: 'Provider callbacks by outcome (accepted, or the reason they were rejected).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly asyncRequests = new Counter({
    name: 'gateway_async_requests_total',
    help: 'Async lookup requests by state reached (PENDING when created, COMPLETED, EXPIRED).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
