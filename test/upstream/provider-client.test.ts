import { once } from 'node:events';
import { GatewayErrorCode } from '../../src/errors';
import { startProviderSimulator, type ProviderSimulator } from '../../src/simulator';
import {
  ProviderClient,
  type BreakerState,
  type ProviderClientHooks,
  type ProviderClientOptions,
} from '../../src/upstream/provider-client';
import {
  captureLogger,
  closedPort,
  sendJson,
  serialise,
  startRawServer,
  upstreamFailure,
  type RawServer,
} from './helpers';

const NUMBER = '41793026727';
/** Callbacks of accepted notifies go nowhere (refused at once); the simulator cancels the rest on dispose. */
const NOTIFY_URL = 'http://127.0.0.1:9/callbacks/req-1?secret=cb-secret-123';

/** Records what the hooks saw. */
function recordingHooks() {
  const calls: Parameters<NonNullable<ProviderClientHooks['call']>>[0][] = [];
  const retries: Parameters<NonNullable<ProviderClientHooks['retry']>>[0][] = [];
  const breaker: BreakerState[] = [];
  const hooks: ProviderClientHooks = {
    call: (e) => calls.push(e),
    retry: (e) => retries.push(e),
    breaker: (state) => breaker.push(state),
  };
  return { hooks, calls, retries, breaker };
}

/**
 * Lets a breaker cooldown pass: the elapsed time is the behaviour under test, not synchronisation. The margin
 * covers timers firing up to a millisecond early against the breaker's monotonic clock.
 */
function waitOut(cooldownMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, cooldownMs + 15));
}

describe('ProviderClient', () => {
  let sim: ProviderSimulator;
  const clients: ProviderClient[] = [];
  const rawServers: RawServer[] = [];

  /** A client against the simulator with fast test defaults; disposed after each test. */
  function client(options: Partial<ProviderClientOptions> = {}): ProviderClient {
    const created = new ProviderClient({
      baseUrl: sim.url,
      apiKey: sim.apiKey,
      timeoutMs: 2_000,
      ...options,
      retry: { baseDelayMs: 5, maxDelayMs: 20, ...options.retry },
    });
    clients.push(created);
    return created;
  }

  async function rawServer(...args: Parameters<typeof startRawServer>): Promise<RawServer> {
    const server = await startRawServer(...args);
    rawServers.push(server);
    return server;
  }

  beforeEach(async () => {
    sim = await startProviderSimulator();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await Promise.all(rawServers.splice(0).map((s) => s.close()));
    await sim.dispose();
  });

  describe('requests', () => {
    it('POSTs /number/1/query with `Authorization: App <key>` and JSON, and returns the results', async () => {
      const response = await client().query([NUMBER]);

      expect(response.results).toHaveLength(1);
      expect(response.results[0].to).toBe(NUMBER);
      expect(sim.received).toHaveLength(1);
      const [request] = sim.received;
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/number/1/query');
      expect(request.headers.authorization).toBe(`App ${sim.apiKey}`);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.accept).toBe('application/json');
      expect(request.body).toEqual({ to: [NUMBER] });
    });

    it('keeps servingMSC and unknown per-result fields, drops unknown top-level fields', async () => {
      const raw = await rawServer((_req, res) =>
        sendJson(res, {
          bulkId: 'b-1',
          junk: { big: true },
          results: [{ to: NUMBER, servingMSC: '41790000', futureField: 7 }],
        }),
      );
      const response = await client({ baseUrl: raw.url }).query([NUMBER]);

      expect(response).toEqual({
        bulkId: 'b-1',
        results: [{ to: NUMBER, servingMSC: '41790000', futureField: 7 }],
      });
    });

    it('reads an answer in the charset its Content-Type names', async () => {
      const raw = await rawServer((_req, res) => {
        const body = Buffer.from(
          JSON.stringify({ results: [{ to: NUMBER, servingMSC: 'Zürich' }] }),
          'latin1',
        );
        res.writeHead(200, { 'content-type': 'application/json; charset=ISO-8859-1' });
        res.end(body);
      });
      const response = await client({ baseUrl: raw.url }).query([NUMBER]);

      expect(response.results[0]).toMatchObject({ servingMSC: 'Zürich' });
    });

    it('POSTs /number/1/notify with notifyUrl and notifyContentType application/json', async () => {
      const ack = await client().notify([NUMBER], NOTIFY_URL);

      expect(ack.bulkId).toEqual(expect.any(String));
      expect(ack.results[0]).toMatchObject({ to: NUMBER, status: { groupName: 'PENDING' } });
      expect(sim.received[0].path).toBe('/number/1/notify');
      expect(sim.received[0].body).toEqual({
        to: [NUMBER],
        notifyUrl: NOTIFY_URL,
        notifyContentType: 'application/json',
      });
    });

    it('GETs /number/1/logs with bulkId and messageId repeated as separate query parameters', async () => {
      const response = await client().logs({ bulkId: ['b-1', 'b-2'], messageId: ['m-1', 'm-2'], limit: 10 });

      expect(response.results).toEqual([]);
      const [request] = sim.received;
      expect(request.method).toBe('GET');
      expect(request.path).toBe('/number/1/logs');
      expect(request.query).toEqual({ bulkId: ['b-1', 'b-2'], messageId: ['m-1', 'm-2'], limit: ['10'] });
      expect(request.body).toBeUndefined();
    });

    it('keeps a path prefix of the base URL', async () => {
      const raw = await rawServer((_req, res) => sendJson(res, { results: [] }));
      const c = client({ baseUrl: `${raw.url}/infobip/` });

      await c.query([NUMBER]);
      await c.logs({ to: NUMBER });

      expect(raw.urls).toEqual(['/infobip/number/1/query', `/infobip/number/1/logs?to=${NUMBER}`]);
    });

    it('reuses keep-alive connections', async () => {
      const raw = await rawServer((_req, res) => sendJson(res, { results: [] }));
      const c = client({ baseUrl: raw.url });

      for (let i = 0; i < 3; i++) {
        await c.query([NUMBER]);
        await c.notify([NUMBER], NOTIFY_URL);
        await c.logs({});
      }

      expect(raw.urls).toHaveLength(9);
      // undici may open a second connection while the first is being checked for a pending close.
      expect(raw.sockets.length).toBeLessThanOrEqual(2);
    });
  });

  describe('provider refusals', () => {
    it('maps 401 to UPSTREAM_UNAUTHORIZED without retrying', async () => {
      const { hooks, calls } = recordingHooks();
      const error = await upstreamFailure(client({ apiKey: 'not-the-key', hooks }).query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAUTHORIZED);
      expect(error.upstream).toMatchObject({ status: 401, messageId: 'UNAUTHORIZED' });
      expect(sim.received).toHaveLength(1);
      expect(calls).toEqual([expect.objectContaining({ outcome: 'UPSTREAM_UNAUTHORIZED', status: 401 })]);
    });

    it('maps 403 to UPSTREAM_UNAUTHORIZED without retrying', async () => {
      sim.faults.inject({ kind: 'status', status: 403 }, { times: Infinity });
      const error = await upstreamFailure(client().query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAUTHORIZED);
      expect(error.upstream.status).toBe(403);
      expect(sim.received).toHaveLength(1);
    });

    it('maps 400 to UPSTREAM_BAD_REQUEST with the provider messageId and text in extensions.upstream', async () => {
      sim.faults.inject(
        {
          kind: 'status',
          status: 400,
          body: { requestError: { serviceException: { messageId: 'BAD_REQUEST', text: 'Invalid "to"' } } },
        },
        { times: Infinity },
      );
      const error = await upstreamFailure(client().query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_REQUEST);
      expect(error.extensions.upstream).toEqual({
        status: 400,
        messageId: 'BAD_REQUEST',
        text: 'Invalid "to"',
      });
      expect(sim.received).toHaveLength(1);
    });

    it('truncates a long provider text and never echoes a raw error body', async () => {
      sim.faults.inject({
        kind: 'status',
        status: 400,
        body: { requestError: { serviceException: { messageId: 'BAD_REQUEST', text: 'x'.repeat(5_000) } } },
      });
      sim.faults.inject({ kind: 'status', status: 400, body: '<html>proxy says no</html>' });
      const c = client();

      const long = await upstreamFailure(c.query([NUMBER]));
      const html = await upstreamFailure(c.query([NUMBER]));

      expect(long.upstream.text?.length).toBeLessThanOrEqual(200);
      expect(html.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_REQUEST);
      expect(html.upstream).toEqual({ status: 400 });
      expect(serialise(html)).not.toContain('proxy says no');
    });
  });

  describe('retries', () => {
    it('retries a 429 after the Retry-After delay, then succeeds', async () => {
      sim.faults.inject({ kind: 'status', status: 429, retryAfter: '1' });
      const { hooks, retries } = recordingHooks();

      const response = await client({ hooks }).query([NUMBER]);

      expect(response.results[0].to).toBe(NUMBER);
      expect(sim.received).toHaveLength(2);
      expect(retries).toEqual([{ endpoint: 'query', attempt: 2, delayMs: 1_000, reason: 'HTTP 429' }]);
      // `at` has millisecond resolution on both sides; the gap is the honoured Retry-After.
      expect(sim.received[1].at - sim.received[0].at).toBeGreaterThanOrEqual(990);
    });

    it('gives up at once with UPSTREAM_RATE_LIMITED when Retry-After exceeds the remaining budget', async () => {
      sim.faults.inject({ kind: 'status', status: 429, retryAfter: '60' }, { times: Infinity });
      const started = Date.now();

      const error = await upstreamFailure(client({ retry: { maxTotalMs: 1_000 } }).query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_RATE_LIMITED);
      expect(error.retryAfterMs).toBe(60_000);
      expect(sim.received).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('fails with UPSTREAM_RATE_LIMITED after maxAttempts calls when 429 persists', async () => {
      sim.faults.inject({ kind: 'status', status: 429 }, { times: Infinity });
      const { hooks, calls } = recordingHooks();

      const error = await upstreamFailure(client({ hooks, retry: { maxAttempts: 4 } }).query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_RATE_LIMITED);
      expect(sim.received).toHaveLength(4);
      expect(calls.map((c) => c.outcome)).toEqual(Array(4).fill('UPSTREAM_RATE_LIMITED'));
    });

    it('retries a 500 up to maxAttempts, then fails with UPSTREAM_UNAVAILABLE', async () => {
      sim.faults.inject({ kind: 'status', status: 500 }, { times: Infinity });
      const { hooks, retries } = recordingHooks();

      const error = await upstreamFailure(client({ hooks }).query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.upstream.status).toBe(500);
      expect(sim.received).toHaveLength(3);
      expect(retries.map((r) => r.attempt)).toEqual([2, 3]);
      for (const r of retries) expect(r.delayMs).toBeLessThanOrEqual(20);
    });

    it('retries a 503 and returns the next success', async () => {
      sim.faults.inject({ kind: 'status', status: 503 });

      const response = await client().query([NUMBER]);

      expect(response.results[0].to).toBe(NUMBER);
      expect(sim.received).toHaveLength(2);
    });

    it('retries logs on 5xx too', async () => {
      sim.faults.inject({ kind: 'status', status: 502 }, { endpoint: 'logs' });

      await expect(client().logs({})).resolves.toEqual({ results: [] });
      expect(sim.received).toHaveLength(2);
    });

    it('retries a query whose connection was dropped', async () => {
      sim.faults.inject({ kind: 'drop' });

      const response = await client().query([NUMBER]);

      expect(response.results[0].to).toBe(NUMBER);
      expect(sim.received).toHaveLength(2);
    });

    it('stops retrying when the total budget is spent', async () => {
      sim.faults.inject({ kind: 'latency', ms: 10_000 }, { times: Infinity });
      const started = Date.now();

      const error = await upstreamFailure(
        client({ timeoutMs: 150, retry: { maxAttempts: 10, maxTotalMs: 400 } }).query([NUMBER]),
      );

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(Date.now() - started).toBeLessThan(400 + 250);
      expect(sim.received.length).toBeLessThan(10);
    });
  });

  describe('timeouts', () => {
    it('fails within timeoutMs when the provider sends headers and then stalls', async () => {
      sim.faults.inject({ kind: 'stall-after-headers' }, { times: Infinity });
      const started = Date.now();

      const error = await upstreamFailure(
        client({ timeoutMs: 200, retry: { maxAttempts: 1 } }).query([NUMBER]),
      );

      const elapsedMs = Date.now() - started;
      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(elapsedMs).toBeGreaterThanOrEqual(190);
      expect(elapsedMs).toBeLessThan(200 + 250);
    });

    it('fails within timeoutMs when the provider does not answer at all, and retries', async () => {
      sim.faults.inject({ kind: 'latency', ms: 5_000 });
      const { hooks, calls } = recordingHooks();

      const response = await client({ timeoutMs: 200, hooks }).query([NUMBER]);

      expect(response.results[0].to).toBe(NUMBER);
      expect(calls.map((c) => c.outcome)).toEqual(['UPSTREAM_UNAVAILABLE', 'ok']);
      expect(calls[0].durationMs).toBeLessThan(200 + 250);
    });
  });

  describe('unusable answers', () => {
    it('maps a truncated 200 body to UPSTREAM_BAD_RESPONSE', async () => {
      sim.faults.inject({ kind: 'truncated' }, { times: Infinity });

      const error = await upstreamFailure(client().query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
      expect(error.upstream.status).toBe(200);
    });

    it('maps a non-JSON 200 body to UPSTREAM_BAD_RESPONSE', async () => {
      sim.faults.inject({ kind: 'non-json' }, { times: Infinity });

      const error = await upstreamFailure(client().query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
      expect(serialise(error)).not.toMatch(/<html|<!doctype|<body/i);
    });

    it('maps a 200 body of the wrong shape to UPSTREAM_BAD_RESPONSE', async () => {
      const raw = await rawServer((req, res) =>
        sendJson(res, req.url?.includes('logs') ? { results: 'none' } : { results: [{ number: NUMBER }] }),
      );
      const c = client({ baseUrl: raw.url });

      const query = await upstreamFailure(c.query([NUMBER]));
      const logs = await upstreamFailure(c.logs({}));

      expect(query.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
      expect(query.message).toContain('results[0].to');
      expect(logs.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
    });

    it('maps a connection that dies mid-body to UPSTREAM_BAD_RESPONSE after retries', async () => {
      const raw = await rawServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1_000 });
        res.write('{"results":[{"to":', () => res.socket?.destroy());
      });

      const error = await upstreamFailure(client({ baseUrl: raw.url }).query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
      expect(raw.urls).toHaveLength(3);
    });

    it('maps an unexpected status (404 from a wrong base path) to UPSTREAM_BAD_RESPONSE without retrying', async () => {
      const error = await upstreamFailure(client({ baseUrl: `${sim.url}/wrong` }).query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
      expect(error.upstream.status).toBe(404);
    });
  });

  describe('notify (a second request is a second charge)', () => {
    it('does not resend a notify whose connection dropped: UPSTREAM_UNAVAILABLE, outcome unknown', async () => {
      sim.faults.inject({ kind: 'drop' }, { endpoint: 'notify', times: Infinity });

      const error = await upstreamFailure(client().notify([NUMBER], NOTIFY_URL));

      expect(sim.received).toHaveLength(1);
      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.upstream.outcomeKnown).toBe(false);
      expect(error.message).toMatch(/outcome is unknown/);
      expect(error.retryable).toBe(false);
    });

    it('does not resend a notify answered 500', async () => {
      sim.faults.inject({ kind: 'status', status: 500 }, { endpoint: 'notify', times: Infinity });

      const error = await upstreamFailure(client().notify([NUMBER], NOTIFY_URL));

      expect(sim.received).toHaveLength(1);
      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.upstream).toMatchObject({ status: 500, outcomeKnown: false });
    });

    it('does not resend a notify that timed out', async () => {
      sim.faults.inject({ kind: 'stall-after-headers' }, { endpoint: 'notify', times: Infinity });

      const error = await upstreamFailure(client({ timeoutMs: 100 }).notify([NUMBER], NOTIFY_URL));

      expect(sim.received).toHaveLength(1);
      expect(error.upstream.outcomeKnown).toBe(false);
    });

    it('resends a notify whose connection was refused (it never reached the provider)', async () => {
      const port = await closedPort();
      const { hooks, calls, retries } = recordingHooks();

      const error = await upstreamFailure(
        client({ baseUrl: `http://127.0.0.1:${port}`, hooks }).notify([NUMBER], NOTIFY_URL),
      );

      expect(calls).toHaveLength(3);
      expect(retries.map((r) => r.reason)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.upstream.outcomeKnown).toBe(true);
    });

    it('resends a notify refused with 429 (refused means not charged)', async () => {
      sim.faults.inject({ kind: 'status', status: 429 }, { endpoint: 'notify' });

      const ack = await client().notify([NUMBER], NOTIFY_URL);

      expect(ack.results[0].to).toBe(NUMBER);
      expect(sim.received).toHaveLength(2);
    });

    it('takes a JSON 2xx acknowledgement cut off mid-body as accepted, without ids, and does not resend it', async () => {
      sim.faults.inject({ kind: 'truncated' }, { endpoint: 'notify' });

      expect(await client().notify([NUMBER], NOTIFY_URL)).toEqual({ results: [] });
      expect(sim.received).toHaveLength(1);
    });

    it('takes a JSON 2xx of another shape as accepted, but not a 2xx page that is not JSON', async () => {
      const raw = await rawServer((req, res) => {
        if (req.url?.includes('shape')) sendJson(res, { unexpected: true });
        else {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>captive portal</html>');
        }
      });
      expect(await client({ baseUrl: `${raw.url}/shape` }).notify([NUMBER], NOTIFY_URL)).toEqual({
        results: [],
      });
      const error = await upstreamFailure(
        client({ baseUrl: `${raw.url}/html` }).notify([NUMBER], NOTIFY_URL),
      );
      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_RESPONSE);
      expect(error.upstream.outcomeKnown).toBe(false);
    });

    it('marks refusals as outcome known', async () => {
      sim.faults.inject({ kind: 'status', status: 400 }, { endpoint: 'notify' });

      const error = await upstreamFailure(client().notify([NUMBER], NOTIFY_URL));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_BAD_REQUEST);
      expect(error.upstream.outcomeKnown).toBe(true);
    });
  });

  describe('circuit breaker', () => {
    it('opens after failureThreshold consecutive failures and then fails fast without calling the provider', async () => {
      sim.faults.inject({ kind: 'status', status: 500 }, { times: Infinity });
      const { hooks, breaker } = recordingHooks();
      const { logger, lines } = captureLogger();
      const c = client({ hooks, logger, retry: { maxAttempts: 1 }, breaker: { failureThreshold: 3 } });

      for (let i = 0; i < 3; i++) await upstreamFailure(c.query([NUMBER]));
      expect(c.breakerState).toBe('open');
      const fastFail = await upstreamFailure(c.query([NUMBER]));

      expect(fastFail.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(fastFail.message).toMatch(/circuit breaker is open/);
      expect(sim.received).toHaveLength(3);
      expect(breaker).toEqual(['open']);
      const warn = lines.map((l) => JSON.parse(l)).find((l) => l.breaker === 'open');
      expect(warn).toMatchObject({ level: 40, breaker: 'open' });
    });

    it('counts attempts, so retries of one call can open it and stop further retries', async () => {
      sim.faults.inject({ kind: 'status', status: 503 }, { times: Infinity });
      const c = client({ retry: { maxAttempts: 5 }, breaker: { failureThreshold: 2 } });

      const error = await upstreamFailure(c.query([NUMBER]));

      expect(sim.received).toHaveLength(2);
      expect(error.message).toMatch(/circuit breaker is open/);
    });

    it('does not count 400, 401 or 429 as failures', async () => {
      sim.faults.inject({ kind: 'status', status: 400 }, { times: 2 });
      sim.faults.inject({ kind: 'status', status: 401 }, { times: 2 });
      sim.faults.inject({ kind: 'status', status: 429 }, { times: 2 });
      const c = client({ retry: { maxAttempts: 1 }, breaker: { failureThreshold: 2 } });

      for (let i = 0; i < 6; i++) await upstreamFailure(c.query([NUMBER]));

      expect(c.breakerState).toBe('closed');
      await expect(c.query([NUMBER])).resolves.toBeDefined();
    });

    it('lets one probe through after the cooldown and closes when it succeeds', async () => {
      const cooldownMs = 100;
      sim.faults.inject({ kind: 'status', status: 500 }, { times: 2 });
      const { hooks, breaker } = recordingHooks();
      const c = client({ hooks, retry: { maxAttempts: 1 }, breaker: { failureThreshold: 2, cooldownMs } });
      await upstreamFailure(c.query([NUMBER]));
      await upstreamFailure(c.query([NUMBER]));
      expect(c.breakerState).toBe('open');

      await waitOut(cooldownMs);
      sim.faults.inject({ kind: 'latency', ms: 100 });
      const probe = c.query([NUMBER]);
      await sim.waitForRequest(() => sim.received.length === 3);
      const whileProbing = await upstreamFailure(c.query([NUMBER]));

      await expect(probe).resolves.toBeDefined();
      expect(whileProbing.message).toMatch(/circuit breaker is open/);
      expect(sim.received).toHaveLength(3);
      expect(breaker).toEqual(['open', 'half-open', 'closed']);
      expect(c.breakerState).toBe('closed');
      await expect(c.query([NUMBER])).resolves.toBeDefined();
    });

    it('re-opens when the half-open probe fails', async () => {
      const cooldownMs = 50;
      sim.faults.inject({ kind: 'status', status: 500 }, { times: Infinity });
      const { hooks, breaker } = recordingHooks();
      const c = client({ hooks, retry: { maxAttempts: 1 }, breaker: { failureThreshold: 1, cooldownMs } });
      await upstreamFailure(c.query([NUMBER]));

      await waitOut(cooldownMs);
      await upstreamFailure(c.query([NUMBER]));
      const fastFail = await upstreamFailure(c.query([NUMBER]));

      expect(fastFail.message).toMatch(/circuit breaker is open/);
      expect(sim.received).toHaveLength(2);
      expect(breaker).toEqual(['open', 'half-open', 'open']);
    });
  });

  describe('connections', () => {
    it('does not surface an error when the provider closed an idle keep-alive connection', async () => {
      // Like a load balancer's idle timeout: the server closes the connection some time after answering,
      // without a Keep-Alive hint.
      const raw = await rawServer((req, res) => {
        sendJson(res, { results: [{ to: NUMBER }] });
        res.on('finish', () => setTimeout(() => req.socket.end(), 20));
      });
      const { hooks, calls, retries } = recordingHooks();
      const c = client({ baseUrl: raw.url, hooks });

      await c.query([NUMBER]);
      await once(raw.sockets[0], 'close');
      const second = await c.query([NUMBER]);
      await once(raw.sockets[1], 'close');
      await c.logs({});

      expect(second.results[0].to).toBe(NUMBER);
      expect(raw.sockets).toHaveLength(3);
      expect(calls.map((e) => e.outcome)).toEqual(['ok', 'ok', 'ok']);
      expect(retries).toEqual([]);
    });

    it('honours a caller abort: UPSTREAM_UNAVAILABLE, no retry', async () => {
      sim.faults.inject({ kind: 'latency', ms: 5_000 }, { times: Infinity });
      const controller = new AbortController();
      const c = client();

      const call = c.query([NUMBER], { signal: controller.signal });
      await sim.waitForRequest();
      controller.abort();
      const error = await upstreamFailure(call);

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      expect(error.retryable).toBe(false);
      expect(sim.received).toHaveLength(1);
    });

    it('ping() is true for a reachable provider without spending a lookup, false otherwise', async () => {
      const c = client();
      const port = await closedPort();
      const down = client({ baseUrl: `http://127.0.0.1:${port}` });

      await expect(c.ping()).resolves.toBe(true);
      await expect(down.ping()).resolves.toBe(false);
      expect(sim.received).toEqual([]);
    });

    it('ping() is false when the origin stalls past the timeout', async () => {
      const raw = await rawServer(() => undefined);

      await expect(client({ baseUrl: raw.url }).ping(100)).resolves.toBe(false);
    });

    it('after dispose(), calls fail with UPSTREAM_UNAVAILABLE and ping() is false', async () => {
      const c = client();
      await c.query([NUMBER]);
      await c.dispose();

      const error = await upstreamFailure(c.query([NUMBER]));

      expect(error.extensions.code).toBe(GatewayErrorCode.UPSTREAM_UNAVAILABLE);
      await expect(c.ping()).resolves.toBe(false);
      await expect(c.dispose()).resolves.toBeUndefined();
    });
  });

  describe('secrets', () => {
    it('never shows the API key, baseUrl credentials or notifyUrl in errors or logs', async () => {
      await sim.dispose();
      const apiKey = 'key-SECRET-4f1c9a';
      sim = await startProviderSimulator({ apiKey });
      const { logger, lines } = captureLogger();
      const baseUrl = sim.url.replace('http://', 'http://admin:pw-SECRET-77@');
      const c = client({ baseUrl, apiKey, logger, timeoutMs: 150, breaker: { failureThreshold: 100 } });
      const echo = (text: string) => ({ requestError: { serviceException: { messageId: text, text } } });
      const errors = [];

      sim.faults.inject({ kind: 'status', status: 400, body: echo(`bad key ${apiKey} via App ${apiKey}`) });
      errors.push(await upstreamFailure(c.query([NUMBER])));
      sim.faults.inject({ kind: 'status', status: 401, body: echo(`key ${apiKey} refused`) });
      errors.push(await upstreamFailure(c.query([NUMBER])));
      sim.faults.inject({ kind: 'status', status: 400, body: echo(`bad notifyUrl ${NOTIFY_URL}`) });
      errors.push(await upstreamFailure(c.notify([NUMBER], NOTIFY_URL)));
      sim.faults.inject({ kind: 'status', status: 500, body: echo(apiKey) }, { times: 3 });
      errors.push(await upstreamFailure(c.query([NUMBER])));
      sim.faults.inject({ kind: 'drop' }, { times: 3 });
      errors.push(await upstreamFailure(c.query([NUMBER])));
      sim.faults.inject({ kind: 'stall-after-headers' }, { times: 3 });
      errors.push(await upstreamFailure(c.logs({})));
      sim.faults.inject({ kind: 'drop' });
      errors.push(await upstreamFailure(c.notify([NUMBER], NOTIFY_URL)));
      await c.query([NUMBER]);

      expect(errors.map((e) => e.extensions.code)).toEqual([
        'UPSTREAM_BAD_REQUEST',
        'UPSTREAM_UNAUTHORIZED',
        'UPSTREAM_BAD_REQUEST',
        'UPSTREAM_UNAVAILABLE',
        'UPSTREAM_UNAVAILABLE',
        'UPSTREAM_UNAVAILABLE',
        'UPSTREAM_UNAVAILABLE',
      ]);
      expect(errors[0].upstream.text).toBe('bad key [redacted] via App [redacted]');
      expect(lines.length).toBeGreaterThan(10);
      const everything = [...errors.map(serialise), ...lines].join('\n');
      expect(everything).not.toContain('SECRET');
      expect(everything).not.toContain('cb-secret-123');
      // The stripped userinfo is not sent either: only the App key authenticates.
      expect(sim.received.every((r) => r.headers.authorization === `App ${apiKey}`)).toBe(true);
    });

    it('rejects a malformed baseUrl without quoting it', () => {
      expect(() => new ProviderClient({ baseUrl: 'not a url pw-SECRET', apiKey: 'k' })).toThrow(TypeError);
      try {
        new ProviderClient({ baseUrl: 'ftp://user:pw-SECRET@host', apiKey: 'k' });
      } catch (error) {
        expect(String(error)).not.toContain('SECRET');
      }
      expect(() => new ProviderClient({ baseUrl: sim.url, apiKey: 'bad\nkey' })).toThrow(TypeError);
      expect(() => new ProviderClient({ baseUrl: sim.url, apiKey: 'k', retry: { maxAttempts: 0 } })).toThrow(
        RangeError,
      );
    });
  });
});
