import {
  LookupCompletedDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

const NUMBERS = ['41793026727', '41793026728'];

/** One scrape of /metrics, with a reader for a sample's value (0 when absent). */
async function scrape(gateway: TestGateway) {
  const response = await fetch(`${gateway.app.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const text = await response.text();
  const value = (name: string, labels: Record<string, string> = {}): number => {
    let total = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || !line.startsWith(name)) continue;
      const match = line.match(/^([a-z_:]+)(?:\{(.*)\})? (\S+)$/);
      if (!match || match[1] !== name) continue;
      const found = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
      );
      if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(match[3]);
    }
    return total;
  };
  return { text, value };
}

describe('/metrics (Prometheus, prom-client)', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('counts operations by name, type, transport and outcome with durations', async () => {
    const gateway = await harness.gateway();
    await gateway.gql(LookupNumbersDocument, { to: NUMBERS });
    await gateway.gql(LookupNumbersDocument, { to: NUMBERS });
    await gateway.gql(LookupNumbersDocument, { to: ['abc'] });
    await gateway.gql('{ nope }');
    // Refused before Apollo Server sees them: not JSON, and a method GraphQL over HTTP does not use.
    await fetch(gateway.app.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    await fetch(gateway.app.graphqlUrl, { method: 'PUT' });
    // And refused by Apollo Server before any plugin runs: CSRF prevention, and no query at all.
    await fetch(gateway.app.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"query":"{ __typename }"}',
    });
    await fetch(gateway.app.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"variables": "x"}',
    });
    const { body } = await gateway.gql(RequestLookupDocument, { to: NUMBERS });
    await gateway
      .subscribe(gateway.wsClient(), LookupCompletedDocument, { requestId: body.data!.requestLookup.id })
      .completed();

    await until(
      async () =>
        (await scrape(gateway)).value('gateway_graphql_operation_duration_seconds_count', {
          transport: 'ws',
        }) === 1,
      5_000,
      'the subscription to be recorded',
    );
    const { value } = await scrape(gateway);
    const count = (labels: Record<string, string>) =>
      value('gateway_graphql_operation_duration_seconds_count', labels);
    expect(count({ operation: 'LookupNumbers', type: 'query', transport: 'http', outcome: 'ok' })).toBe(2);
    expect(count({ operation: 'LookupNumbers', type: 'query', outcome: 'BAD_USER_INPUT' })).toBe(1);
    expect(count({ operation: 'anonymous', outcome: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    expect(
      count({ operation: 'anonymous', type: 'unknown', transport: 'http', outcome: 'BAD_REQUEST' }),
    ).toBe(4);
    expect(count({ operation: 'RequestLookup', type: 'mutation', outcome: 'ok' })).toBe(1);
    expect(
      count({ operation: 'LookupCompleted', type: 'subscription', transport: 'ws', outcome: 'ok' }),
    ).toBe(1);
    expect(
      value('gateway_graphql_operation_duration_seconds_sum', { operation: 'LookupNumbers' }),
    ).toBeGreaterThan(0);
    // What the lookups cost: two sync lookups of two numbers each, one async request of two.
    expect(value('gateway_provider_numbers_sent_total', { endpoint: 'query' })).toBe(4);
    expect(value('gateway_provider_numbers_sent_total', { endpoint: 'notify' })).toBe(2);
  });

  it('counts provider calls by endpoint and outcome, retries, and shows the breaker state', async () => {
    const gateway = await harness.gateway({
      UPSTREAM_RETRY_BASE_DELAY_MS: '1',
      UPSTREAM_BREAKER_THRESHOLD: '2',
    });
    gateway.simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query' });
    await gateway.gql(LookupNumbersDocument, { to: NUMBERS });
    await gateway.gql(RequestLookupDocument, { to: NUMBERS });
    let metrics = await scrape(gateway);
    const calls = (labels: Record<string, string>) =>
      metrics.value('gateway_provider_call_duration_seconds_count', labels);
    expect(calls({ endpoint: 'query', outcome: 'ok' })).toBe(1);
    expect(calls({ endpoint: 'query', outcome: 'UPSTREAM_UNAVAILABLE' })).toBe(1);
    expect(calls({ endpoint: 'notify', outcome: 'ok' })).toBe(1);
    expect(metrics.value('gateway_provider_retries_total', { endpoint: 'query' })).toBe(1);
    expect(metrics.value('gateway_provider_breaker_state')).toBe(0);

    gateway.simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query', times: Infinity });
    const { body } = await gateway.gql(LookupNumbersDocument, { to: ['41793026729'] });
    expect(body.errors![0].extensions!.code).toBe('UPSTREAM_UNAVAILABLE');
    metrics = await scrape(gateway);
    expect(metrics.value('gateway_provider_breaker_state')).toBe(2);
  });

  it('shows open WebSocket connections and active subscriptions', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const { body } = await gateway.gql(RequestLookupDocument, { to: NUMBERS });
    const client = gateway.wsClient();
    const subscription = gateway.subscribe(client, LookupCompletedDocument, {
      requestId: body.data!.requestLookup.id,
    });
    await until(() => gateway.app.internals.registry.stats().activeWatches === 1, 5_000, 'the subscription');
    let metrics = await scrape(gateway);
    expect(metrics.value('gateway_websocket_connections')).toBe(1);
    expect(metrics.value('gateway_active_subscriptions')).toBe(1);

    subscription.stop();
    await client.dispose();
    await until(() => gateway.app.internals.webSocketConnections() === 0, 5_000, 'the socket to close');
    await until(
      () => gateway.app.internals.registry.stats().activeWatches === 0,
      5_000,
      'the subscription to end',
    );
    metrics = await scrape(gateway);
    expect(metrics.value('gateway_websocket_connections')).toBe(0);
    expect(metrics.value('gateway_active_subscriptions')).toBe(0);
  });

  it('counts callbacks accepted and rejected by reason, and async requests by state reached', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway(
      { CALLBACK_MAX_BODY_BYTES: '2048', ASYNC_RESULT_TIMEOUT_MS: '300', REQUEST_RETENTION_MS: '60000' },
      { simulator },
    );
    const completed = await gateway.gql(RequestLookupDocument, { to: NUMBERS });
    const notify = await simulator.waitForRequest((r) => r.path === '/number/1/notify');
    const notifyUrl = (notify.body as { notifyUrl: string }).notifyUrl;
    const results = NUMBERS.map((to) => ({
      to,
      mccMnc: '22801',
      status: { groupId: 3, groupName: 'DELIVERED', id: 5, name: 'DELIVERED_TO_HANDSET' },
    }));
    expect((await gateway.postCallback(notifyUrl, { results })).status).toBe(200);
    expect(
      (await gateway.postCallback(notifyUrl.replace(/[^/]+$/, 'A'.repeat(43)), { results })).status,
    ).toBe(404);
    expect((await gateway.postCallback(notifyUrl, 'x=1', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await gateway.postCallback(notifyUrl, { results, padding: 'x'.repeat(3_000) })).status).toBe(413);
    expect((await gateway.postCallback(notifyUrl, '{"results": [')).status).toBe(400);

    // A second request that nobody answers: it expires.
    const expiring = await gateway.gql(RequestLookupDocument, { to: ['41793026729'] });
    await until(
      async () =>
        (await gateway.gql(LookupRequestDocument, { id: expiring.body.data!.requestLookup.id })).body.data!
          .lookupRequest!.state === 'EXPIRED',
      5_000,
      'the request to expire',
    );
    const done = await gateway.gql(LookupRequestDocument, { id: completed.body.data!.requestLookup.id });
    expect(done.body.data!.lookupRequest!.state).toBe('COMPLETED');

    const { value } = await scrape(gateway);
    const callbacks = (reason: string) => value('gateway_callbacks_total', { reason });
    expect(callbacks('accepted')).toBe(1);
    expect(callbacks('not_found')).toBe(1);
    expect(callbacks('unsupported_media_type')).toBe(1);
    expect(callbacks('too_large')).toBe(1);
    expect(callbacks('bad_json')).toBe(1);
    const requests = (state: string) => value('gateway_async_requests_total', { state });
    expect(requests('PENDING')).toBe(2);
    expect(requests('COMPLETED')).toBe(1);
    expect(requests('EXPIRED')).toBe(1);
  });

  it('serves /healthz while the process lives and /readyz only while dependencies answer', async () => {
    const gateway = await harness.gateway();
    const health = await fetch(`${gateway.app.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${gateway.app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { store: 'ok', pubsub: 'ok', provider: 'ok' },
    });
    expect(ready.headers.get('x-request-id')).toEqual(expect.any(String));

    await gateway.simulator.dispose();
    const unready = await fetch(`${gateway.app.url}/readyz`);
    expect(unready.status).toBe(503);
    expect(await unready.json()).toMatchObject({
      status: 'unavailable',
      checks: { provider: 'unavailable' },
    });
    expect((await fetch(`${gateway.app.url}/healthz`)).status).toBe(200);
  });
});
