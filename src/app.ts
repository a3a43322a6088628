import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { Redis } from 'ioredis';
import type { GatewayConfig } from './config';
import type { GatewayContext } from './graphql/context';
import { LookupService, type LookupProvider } from './lookup/lookup-service';
import { createLogger, type Logger } from './observability/logger';
import { GatewayMetrics } from './observability/metrics';
import { OperationObserver } from './observability/operation-observer';
import { MemoryPubSub } from './pubsub/memory-pubsub';
import type { PubSub } from './pubsub/pubsub';
import { RedisPubSub } from './pubsub/redis-pubsub';
import { CALLBACK_PATH, createCallbackReceiver } from './requests/callback-route';
import { MemoryRequestStore } from './requests/memory-request-store';
import { guardStore } from './requests/guarded-store';
import { RedisRequestStore } from './requests/redis-request-store';
import { RequestRegistry } from './requests/request-registry';
import type { RequestStore } from './requests/request-store';
import { buildGatewaySchema } from './schema';
import { createErrorFormatter } from './server/format-error';
import { createHttpDrain } from './server/drain';
import { createHttpHandler, createHttpOperationPlugin, createKeyAuthenticator } from './server/http-app';
import { createJitExecution } from './server/jit-executor';
import { clientAddress, createWebSocketOperationGuard } from './server/operation-guard';
import {
  createDepthLimitRule,
  createNumberCapPlugin,
  createRootFieldLimitRule,
  noIntrospectionRule,
} from './server/operation-limits';
import { checkKey, createRateLimiter } from './server/rate-limit';
import { startWebSocketServer, type GatewayWebSocketServer } from './server/ws-server';
import { startProviderSimulator, type ProviderSimulator } from './simulator';
import { ProviderClient } from './upstream/provider-client';

/** The GraphQL path, for HTTP and WebSocket alike. */
export const GRAPHQL_PATH = '/graphql';

/** Test and embedding hooks of {@link buildApp}; production passes none. */
export interface BuildAppOptions {
  /** Default: a pino logger at `config.logLevel`. */
  logger?: Logger;
  /** Use this simulator as the provider instead of starting one (when no provider base URL is configured). */
  simulator?: ProviderSimulator;
}

/** A built gateway. Nothing listens or connects until `start()`. */
export interface GatewayApp {
  /** `http://<host>:<port>` once started. */
  readonly url: string;
  readonly graphqlUrl: string;
  readonly wsUrl: string;
  /** The base URL put into `notifyUrl`. */
  readonly publicUrl: string;
  readonly metrics: GatewayMetrics;
  /** The running simulator when the gateway uses one. */
  readonly simulator: ProviderSimulator | undefined;
  /** Internals exposed for tests and benchmarks. */
  readonly internals: {
    registry: RequestRegistry;
    pubsub: PubSub;
    service: LookupService;
    store: RequestStore;
    webSocketConnections: () => number;
  };
  /** Starts the simulator (if any), Redis connections and the HTTP/WebSocket server. Rejects if any cannot. */
  start(): Promise<void>;
  /**
   * Graceful stop: stops accepting, lets in-flight operations (HTTP and WebSocket) and callbacks finish, closes
   * WebSockets with 1001, then releases everything. What still runs `shutdownTimeoutMs` minus a reserve (2 s, or
   * half the bound when it is shorter) is cut, and `graceful` is then false; the reserve is for releasing.
   */
  stop(): Promise<{ graceful: boolean }>;
}

/** Strips credentials from a URL before it is logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '[invalid url]';
  }
}

/** Quits a connection that is up, stops one that is reconnecting, leaves a closed one alone. Never rejects. */
async function closeRedis(connection: Redis): Promise<void> {
  // A second stop() must not touch closed connections: ioredis would arm a 2 s timer on the dead socket.
  if (connection.status === 'end') return;
  await connection.quit().catch(() => connection.disconnect());
}

function createRedis(url: string, name: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectionName: `number-lookup-gateway:${name}`,
    // Fail fast while Redis is away so callbacks get 503 (the provider retries) instead of hanging.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2_000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  });
}

/**
 * Wires the gateway from its configuration: provider client (or built-in simulator), request store and
 * pub/sub (in process or Redis), the schema, Apollo Server over HTTP and graphql-ws over WebSocket on one port.
 * Reads no environment variables.
 */
export function buildApp(config: GatewayConfig, options: BuildAppOptions = {}): GatewayApp {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = new GatewayMetrics();
  // The provider's key, base URL and host never reach a client, whatever error text carries them.
  let providerSecrets: string[] = [];
  const formatError = createErrorFormatter(logger, {
    secrets: () => providerSecrets,
    hideSuggestions: !config.http.introspection,
  });
  const authenticate = createKeyAuthenticator(config.auth.clientApiKeys);
  const observer = new OperationObserver(metrics, logger);
  const rateLimiter = createRateLimiter(config.rateLimitPerMinute);
  const depthLimit = createDepthLimitRule(config.http.maxQueryDepth);
  const rootFieldLimit = createRootFieldLimitRule(config.http.maxRootFields);
  // The same rules over HTTP and WebSocket; with introspection off, the gateway's own rule refuses it on both, in
  // its own words (Apollo's would tell clients to change Apollo Server's constructor).
  const validationRules = config.http.introspection
    ? [depthLimit, rootFieldLimit]
    : [depthLimit, rootFieldLimit, noIntrospectionRule];

  const redis = config.redisUrl
    ? {
        command: createRedis(config.redisUrl, 'command'),
        publisher: createRedis(config.redisUrl, 'publisher'),
        subscriber: createRedis(config.redisUrl, 'subscriber'),
      }
    : undefined;
  if (redis) {
    for (const [name, connection] of Object.entries(redis)) {
      connection.on('error', (error: Error) =>
        logger.warn({ redis: name, err: { message: error.message } }, 'Redis connection error'),
      );
    }
  }
  const store: RequestStore = guardStore(
    redis
      ? new RedisRequestStore(redis.command, { keyPrefix: config.redisKeyPrefix })
      : new MemoryRequestStore({ maxNumbers: config.requests.maxStoredNumbers }),
    logger,
  );
  const pubsub: PubSub = redis
    ? new RedisPubSub(redis.publisher, redis.subscriber, logger, { channelPrefix: config.redisKeyPrefix })
    : new MemoryPubSub();
  const registry = new RequestRegistry({
    store,
    pubsub,
    logger,
    asyncTimeoutMs: config.requests.asyncTimeoutMs,
    retentionMs: config.requests.retentionMs,
    onStateChange: ({ state }) => metrics.asyncRequests.inc({ state }),
  });

  let simulator: ProviderSimulator | undefined = options.simulator;
  const ownSimulator = !config.provider.baseUrl && !options.simulator;
  let provider: ProviderClient | undefined;
  const providerProxy: LookupProvider = {
    query: (to, options) => (provider as ProviderClient).query(to, options),
    notify: (to, url, options) => (provider as ProviderClient).notify(to, url, options),
    logs: (query, options) => (provider as ProviderClient).logs(query, options),
  };

  let url = '';
  let publicUrl = config.publicUrl ?? '';
  const service = new LookupService({
    provider: providerProxy,
    registry,
    logger,
    publicUrl: () => publicUrl,
    callbackPath: CALLBACK_PATH,
    maxNumbersPerOperation: config.lookup.maxNumbersPerOperation,
    chunkConcurrency: config.lookup.chunkConcurrency,
    cacheTtlMs: config.lookup.cacheTtlMs,
    cacheMaxEntries: config.lookup.cacheMaxEntries,
    onLookupCost: ({ endpoint, numbersSent, cacheHits, coalesced }) => {
      metrics.numbersSent.inc({ endpoint }, numbersSent);
      if (cacheHits) metrics.numbersSaved.inc({ how: 'cache' }, cacheHits);
      if (coalesced) metrics.numbersSaved.inc({ how: 'coalesced' }, coalesced);
    },
  });

  const context = (clientId: string | undefined, requestId: string): GatewayContext => ({
    service,
    registry,
    clientId,
    requestId,
  });

  const schema = buildGatewaySchema();
  const httpServer: Server = createServer();
  const httpDrain = createHttpDrain(httpServer);
  // Of the shutdown's bound, a reserve for closing handshakes and releasing the store, pub/sub and Redis, so that
  // cutting what still runs at the end leaves time to stop cleanly.
  const reserveMs = Math.min(2_000, config.shutdownTimeoutMs / 2);
  const drainBoundMs = config.shutdownTimeoutMs - reserveMs;
  const closeBoundMs = reserveMs / 2;
  let drainCut = false;
  let ws: GatewayWebSocketServer | undefined;

  const apollo = new ApolloServer<GatewayContext>({
    // The schema, served through graphql-jit: compiled once per operation instead of interpreted per request.
    gateway: createJitExecution(schema),
    introspection: true,
    csrfPrevention: true,
    // src/index.ts owns SIGTERM/SIGINT: Apollo's own handler would stop the server and re-raise the signal,
    // killing the process before the rest of the gateway has drained.
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: config.http.maxBatchSize > 0,
    validationRules,
    // Bounds a document's aliases (each response key costs tokens) and nesting before parsing goes deep.
    parseOptions: { maxTokens: config.http.maxQueryTokens },
    includeStacktraceInErrorResponses: false,
    formatError,
    logger,
    plugins: [
      // Apollo's default cache-control plugin wraps every field resolver for per-field hints this API never
      // sets, and then always answers no-store: the same header, without the per-field cost.
      ApolloServerPluginCacheControlDisabled(),
      createHttpOperationPlugin(),
      observer.apolloPlugin<GatewayContext>(),
      createNumberCapPlugin(config.lookup.maxNumbersPerOperation),
      {
        async serverWillStart() {
          return {
            // Both at once: HTTP stops accepting while the WebSockets finish what they are running.
            async drainServer() {
              const [sockets, http] = await Promise.all([
                ws?.dispose(drainBoundMs, closeBoundMs),
                httpDrain.stop(drainBoundMs),
              ]);
              drainCut = Boolean(sockets?.cut || http.cut);
            },
          };
        },
      },
      config.http.landingPage
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageDisabled(),
    ],
  });

  metrics.sources.wsConnections = () => ws?.connections() ?? 0;
  metrics.sources.activeSubscriptions = () => registry.stats().activeWatches;

  const app: GatewayApp = {
    get url() {
      return url;
    },
    get graphqlUrl() {
      return `${url}${GRAPHQL_PATH}`;
    },
    get wsUrl() {
      return `${url.replace(/^http/, 'ws')}${GRAPHQL_PATH}`;
    },
    get publicUrl() {
      return publicUrl;
    },
    metrics,
    get simulator() {
      return simulator;
    },
    internals: {
      registry,
      pubsub,
      service,
      store,
      webSocketConnections: () => ws?.connections() ?? 0,
    },

    async start() {
      if (redis) {
        try {
          await Promise.all(Object.values(redis).map((c) => c.connect()));
        } catch (error) {
          await Promise.all(Object.values(redis).map((c) => c.quit().catch(() => c.disconnect())));
          throw new Error(
            `Cannot connect to Redis at ${redactUrl(config.redisUrl as string)}: ${(error as Error).message}`,
          );
        }
      }
      if (ownSimulator) {
        simulator = await startProviderSimulator({
          callbackDelayMs: config.simulator.callbackDelayMs,
          callbackMode: config.simulator.callbackMode,
          logger: logger.child({ component: 'simulator' }),
        });
        const message =
          'no INFOBIP_BASE_URL configured: using the built-in provider simulator (no real lookups, no charges)';
        // In production that is almost surely a missing setting: every answer would be made up.
        if (config.production) logger.warn({ simulator: simulator.url }, message);
        else logger.info({ simulator: simulator.url }, message);
      }
      const baseUrl = config.provider.baseUrl ?? (simulator as ProviderSimulator).url;
      providerSecrets = [
        baseUrl,
        new URL(baseUrl).host,
        config.provider.apiKey ?? (simulator as ProviderSimulator).apiKey,
      ];
      provider = new ProviderClient({
        baseUrl,
        apiKey: config.provider.apiKey ?? (simulator as ProviderSimulator).apiKey,
        timeoutMs: config.provider.timeoutMs,
        retry: {
          maxAttempts: config.provider.maxAttempts,
          baseDelayMs: config.provider.retryBaseDelayMs,
          maxDelayMs: config.provider.retryMaxDelayMs,
          maxTotalMs: config.provider.retryBudgetMs,
        },
        breaker: {
          failureThreshold: config.provider.breakerThreshold,
          cooldownMs: config.provider.breakerCooldownMs,
        },
        connections: config.provider.connections,
        logger: logger.child({ component: 'provider' }),
        hooks: {
          call: ({ endpoint, outcome, durationMs }) =>
            metrics.providerCalls.observe({ endpoint, outcome }, durationMs / 1_000),
          retry: ({ endpoint, reason }) => metrics.providerRetries.inc({ endpoint, reason }),
          breaker: (state) =>
            metrics.breakerState.set(state === 'closed' ? 0 : state === 'half-open' ? 1 : 2),
        },
      });

      await apollo.start();
      const handler = createHttpHandler({
        apollo,
        callbacks: createCallbackReceiver(registry),
        logger,
        metrics,
        graphqlPath: GRAPHQL_PATH,
        corsOrigins: config.http.corsOrigins,
        maxBodyBytes: config.http.maxBodyBytes,
        callbackMaxBodyBytes: config.http.callbackMaxBodyBytes,
        authenticate,
        context,
        maxBatchSize: config.http.maxBatchSize,
        rateLimiter,
        observer,
        trustProxyHops: config.http.trustProxyHops,
        readiness: [
          { name: 'store', check: () => store.ping() },
          { name: 'pubsub', check: async () => pubsub.isReady() },
          { name: 'provider', check: () => (provider as ProviderClient).ping() },
        ],
      });
      httpServer.on('request', handler);
      // A client that trickles a body (or headers) must not hold a connection for Node's default 5 minutes.
      httpServer.requestTimeout = 30_000;
      httpServer.headersTimeout = 10_000;
      // Nor one that stops reading its answer (the longest a lookup may legitimately wait is the retry budget).
      httpServer.timeout = Math.max(120_000, config.provider.retryBudgetMs + 10_000);
      if (config.http.maxConnections > 0) httpServer.maxConnections = config.http.maxConnections;
      // Listen before the WebSocket server attaches: a listen error (EADDRINUSE, bad HOST) then rejects start()
      // with one clear message instead of surfacing through graphql-ws as an internal error with a stack.
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      ws = startWebSocketServer({
        httpServer,
        schema,
        path: GRAPHQL_PATH,
        logger,
        context,
        authenticate: (params, request) => {
          // Clients that mirror their HTTP headers into connection_init send `{ headers: { authorization } }`.
          const headers = params?.headers as Record<string, unknown> | undefined;
          const raw =
            params?.authorization ??
            params?.Authorization ??
            params?.apiKey ??
            headers?.authorization ??
            headers?.Authorization;
          const key =
            typeof raw === 'string' ? (raw.match(/^Bearer\s+(.+)$/i)?.[1] ?? raw).trim() : undefined;
          return checkKey(rateLimiter, authenticate(key), clientAddress(request, config.http.trustProxyHops));
        },
        formatError,
        keepAliveMs: config.ws.keepAliveMs,
        connectionInitWaitTimeoutMs: config.ws.connectionInitWaitTimeoutMs,
        allowedOrigins: config.http.corsOrigins,
        prepare: createWebSocketOperationGuard({
          schema,
          validationRules,
          maxQueryTokens: config.http.maxQueryTokens,
          maxNumbersPerOperation: config.lookup.maxNumbersPerOperation,
          rateLimiter,
          trustProxyHops: config.http.trustProxyHops,
        }),
        observer,
        maxPayloadBytes: config.http.maxBodyBytes,
        maxOperationsPerConnection: config.ws.maxOperationsPerConnection,
        trustProxyHops: config.http.trustProxyHops,
      });
      const { port } = httpServer.address() as AddressInfo;
      const host = ['0.0.0.0', '::', ''].includes(config.host) ? 'localhost' : config.host;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      publicUrl = config.publicUrl ?? `http://localhost:${port}`;
      logger.info(
        { url: `${url}${GRAPHQL_PATH}`, publicUrl: redactUrl(publicUrl), redis: Boolean(redis) },
        'number lookup gateway listening',
      );
    },

    async stop() {
      const force = setTimeout(() => httpServer.closeAllConnections(), config.shutdownTimeoutMs);
      force.unref();
      try {
        await apollo.stop();
      } finally {
        clearTimeout(force);
        await registry.dispose();
        await pubsub.dispose();
        await store.dispose();
        // Provider calls still running belong to operations already answered or cut: they get the reserve.
        await provider?.dispose(closeBoundMs);
        if (redis) await Promise.all(Object.values(redis).map(closeRedis));
        if (ownSimulator) await simulator?.dispose();
        logger.info({ graceful: !drainCut }, 'number lookup gateway stopped');
      }
      return { graceful: !drainCut };
    },
  };
  return app;
}
