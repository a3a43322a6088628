import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { REDACTED_PATHS } from '../../src/observability/logger';
import { simulateLookup, type ProviderSimulator } from '../../src/simulator';
import {
  LookupCompletedDocument,
  LookupLogsDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness, TestGateway, type HttpResult } from '../helpers/gateway';
import { closedPort } from '../helpers/ports';

const NUMBER = '41793026727';
/** Small, fast retry settings: the behaviour under test is the count and the outcome, not the wait. */
const FAST_RETRIES = {
  UPSTREAM_MAX_ATTEMPTS: '3',
  UPSTREAM_RETRY_BASE_DELAY_MS: '1',
  UPSTREAM_RETRY_MAX_DELAY_MS: '5',
};

/** A gateway plus every log line it wrote (pino JSON, with the gateway's own redaction rules). */
interface LoggedGateway {
  gateway: TestGateway;
  logs: string[];
}

/**
 * Like `harness.gateway()`, but logging at `debug` into memory so a test can read the breaker's log lines and
 * prove that no log line carries a secret.
 */
async function startGateway(
  harness: Harness,
  env: Record<string, string> = {},
  options: { simulator?: ProviderSimulator } = {},
): Promise<LoggedGateway> {
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env });
  const simulator = options.simulator ?? (env.INFOBIP_BASE_URL ? undefined : await harness.simulator());
  const app = buildApp(config, { simulator, logger });
  await app.start();
  harness.defer(() => app.stop());
  return { gateway: new TestGateway(app, simulator as ProviderSimulator, harness), logs };
}

/** Provider calls the simulator saw on one endpoint. */
function calls(simulator: ProviderSimulator, endpoint: 'query' | 'notify' | 'logs') {
  return simulator.received.filter((r) => r.path === `/number/1/${endpoint}`);
}

/** The callback secrets the gateway put into every notifyUrl the simulator received. */
function callbackSecrets(simulator: ProviderSimulator): string[] {
  return calls(simulator, 'notify').map((r) => {
    const url = (r.body as { notifyUrl: string }).notifyUrl;
    return url.slice(url.lastIndexOf('/') + 1);
  });
}

/** What must never leave the gateway: in responses none of these; in logs none but the base URL. */
interface Secrets {
  apiKey: string;
  /** The provider's base URL: an operator detail, fine in the gateway's own logs, never in a response. */
  baseUrl: string;
  callbackSecrets: string[];
}

/** The secrets of a gateway talking to `simulator`, with the callback secrets of every notify it sent. */
function simulatorSecrets(simulator: ProviderSimulator, apiKey = simulator.apiKey): Secrets {
  return { apiKey, baseUrl: simulator.url, callbackSecrets: callbackSecrets(simulator) };
}

/** No key, base URL, callback URL or secret, or stack trace in `responses`; no key or secret in `logs`. */
function expectNoLeak(responses: unknown[], logs: string[], secrets: Secrets): void {
  const shown = responses.map((r) => JSON.stringify(r)).join('\n');
  const host = secrets.baseUrl.replace(/^https?:\/\//, '');
  for (const secret of [secrets.apiKey, host, '/callbacks/', ...secrets.callbackSecrets]) {
    expect(shown).not.toContain(secret);
  }
  expect(shown).not.toMatch(/\bat .+\.[jt]s:\d+/);
  const logged = logs.join('\n');
  for (const secret of [secrets.apiKey, ...secrets.callbackSecrets]) expect(logged).not.toContain(secret);
}

/** The one error of a failed operation. */
function onlyError(result: HttpResult<unknown>) {
  expect(result.status).toBe(200);
  expect(result.body.data ?? null).toBeNull();
  expect(result.body.errors).toHaveLength(1);
  return result.body.errors![0] as { message: string; extensions: Record<string, unknown> };
}

/** One sample of a Prometheus text exposition, e.g. `gateway_provider_breaker_state`. */
async function metric(gateway: TestGateway, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${gateway.app.url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',');
    if (wanted.every((w) => have.includes(w))) return Number(match[3]);
  }
  return undefined;
}

/** The breaker states the gateway logged, in order. */
function breakerLog(logs: string[]): unknown[] {
  return logs
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.breaker !== undefined && /circuit breaker/.test(String(l.msg)))
    .map((l) => l.breaker);
}

describe('the provider boundary, through the gateway', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  describe('refusals: never retried, said plainly', () => {
    it('401 (the provider refuses the gateway key) → UPSTREAM_UNAUTHORIZED, one call, key not shown', async () => {
      const simulator = await harness.simulator();
      const wrongKey = 'wrong-provider-key-4711';
      const { gateway, logs } = await startGateway(
        harness,
        { INFOBIP_BASE_URL: simulator.url, INFOBIP_API_KEY: wrongKey, ...FAST_RETRIES },
        { simulator },
      );

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({
        code: 'UPSTREAM_UNAUTHORIZED',
        upstream: { status: 401, messageId: 'UNAUTHORIZED' },
      });
      expect(calls(simulator, 'query')).toHaveLength(1);
      expect(calls(simulator, 'query')[0].headers.authorization).toBe(`App ${wrongKey}`);
      expectNoLeak([error], logs, simulatorSecrets(simulator, wrongKey));
    });

    it('403 → UPSTREAM_UNAUTHORIZED, one call', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject(
        { kind: 'status', status: 403 },
        { endpoint: 'query', times: Infinity },
      );

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({
        code: 'UPSTREAM_UNAUTHORIZED',
        upstream: { status: 403, messageId: 'FORBIDDEN' },
      });
      expect(calls(gateway.simulator, 'query')).toHaveLength(1);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });

    it('400 → UPSTREAM_BAD_REQUEST with messageId/text, a text echoing the key scrubbed, no raw body', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      const { apiKey } = gateway.simulator;
      gateway.simulator.faults.inject(
        {
          kind: 'status',
          status: 400,
          body: {
            requestError: {
              serviceException: {
                messageId: 'BAD_REQUEST',
                text: `Invalid destination for key ${apiKey}`,
                validationErrors: { to: ['raw-validation-detail'] },
              },
            },
          },
        },
        { endpoint: 'query', times: Infinity },
      );

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions).toEqual({
        code: 'UPSTREAM_BAD_REQUEST',
        upstream: { status: 400, messageId: 'BAD_REQUEST', text: 'Invalid destination for key [redacted]' },
      });
      expect(calls(gateway.simulator, 'query')).toHaveLength(1);
      expect(JSON.stringify(error)).not.toContain('raw-validation-detail');
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });
  });

  describe('rate limiting (429)', () => {
    it('waits out Retry-After, then answers: two calls, the second at least Retry-After later', async () => {
      // A 1 ms backoff would retry at once: only an honoured Retry-After explains the gap.
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject(
        { kind: 'status', status: 429, retryAfter: '1' },
        { endpoint: 'query' },
      );

      const { body } = await gateway.gql(LookupNumbersDocument, { to: [NUMBER] });

      expect(body.errors).toBeUndefined();
      expect(body.data!.lookupNumbers[0]).toMatchObject({
        to: NUMBER,
        mccMnc: simulateLookup(NUMBER).mccMnc,
      });
      const seen = calls(gateway.simulator, 'query');
      expect(seen).toHaveLength(2);
      expect(seen[1].at - seen[0].at).toBeGreaterThanOrEqual(990);
      expect(await metric(gateway, 'gateway_provider_retries_total', { reason: 'HTTP 429' })).toBe(1);
      expectNoLeak([body], logs, simulatorSecrets(gateway.simulator));
    });

    it('still 429 after every attempt → UPSTREAM_RATE_LIMITED after UPSTREAM_MAX_ATTEMPTS calls', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject(
        { kind: 'status', status: 429 },
        { endpoint: 'query', times: Infinity },
      );

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', upstream: { status: 429 } });
      expect(calls(gateway.simulator, 'query')).toHaveLength(3);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });

    it('Retry-After beyond the retry budget → UPSTREAM_RATE_LIMITED at once, one call', async () => {
      const { gateway, logs } = await startGateway(harness, {
        ...FAST_RETRIES,
        UPSTREAM_RETRY_BUDGET_MS: '2000',
      });
      gateway.simulator.faults.inject(
        { kind: 'status', status: 429, retryAfter: '60' },
        { endpoint: 'query', times: Infinity },
      );
      const started = Date.now();

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfterSeconds: 60 });
      expect(calls(gateway.simulator, 'query')).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(2_000);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });
  });

  describe('provider unavailable', () => {
    it.each([500, 502, 503, 504])(
      '%i on every attempt → retried, then UPSTREAM_UNAVAILABLE; no raw body shown',
      async (status) => {
        const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
        gateway.simulator.faults.inject({ kind: 'status', status }, { endpoint: 'query', times: Infinity });

        const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

        expect(error.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstream: { status } });
        expect(calls(gateway.simulator, 'query')).toHaveLength(3);
        expect(JSON.stringify(error)).not.toMatch(/Service Unavailable|Bad Gateway|Gateway Timeout/);
        expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
      },
    );

    it('503 once → retried, and the lookup answers', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query' });

      const { body } = await gateway.gql(LookupNumbersDocument, { to: [NUMBER] });

      expect(body.errors).toBeUndefined();
      expect(body.data!.lookupNumbers.map((r) => r.to)).toEqual([NUMBER]);
      expect(calls(gateway.simulator, 'query')).toHaveLength(2);
      expectNoLeak([body], logs, simulatorSecrets(gateway.simulator));
    });

    it('headers then a stall → UPSTREAM_UNAVAILABLE within the deadline of each attempt', async () => {
      const { gateway, logs } = await startGateway(harness, {
        ...FAST_RETRIES,
        UPSTREAM_MAX_ATTEMPTS: '2',
        UPSTREAM_TIMEOUT_MS: '300',
      });
      gateway.simulator.faults.inject(
        { kind: 'stall-after-headers' },
        { endpoint: 'query', times: Infinity },
      );
      const started = Date.now();

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));
      const elapsedMs = Date.now() - started;

      expect(error.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstream: { status: 200 } });
      expect(calls(gateway.simulator, 'query')).toHaveLength(2);
      // Two attempts of 300 ms each, a few ms of backoff: the stalled body never holds the call open.
      expect(elapsedMs).toBeGreaterThanOrEqual(590);
      expect(elapsedMs).toBeLessThan(2_500);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });

    it('no answer at all → UPSTREAM_UNAVAILABLE within the deadline of each attempt', async () => {
      const { gateway, logs } = await startGateway(harness, {
        ...FAST_RETRIES,
        UPSTREAM_MAX_ATTEMPTS: '2',
        UPSTREAM_TIMEOUT_MS: '300',
      });
      gateway.simulator.faults.inject(
        { kind: 'latency', ms: 30_000 },
        { endpoint: 'query', times: Infinity },
      );
      const started = Date.now();

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(calls(gateway.simulator, 'query')).toHaveLength(2);
      expect(Date.now() - started).toBeLessThan(2_500);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });

    it('the retry budget bounds the whole call, whatever UPSTREAM_MAX_ATTEMPTS says', async () => {
      const { gateway } = await startGateway(harness, {
        ...FAST_RETRIES,
        UPSTREAM_MAX_ATTEMPTS: '10',
        UPSTREAM_TIMEOUT_MS: '200',
        UPSTREAM_RETRY_BUDGET_MS: '500',
      });
      gateway.simulator.faults.inject(
        { kind: 'stall-after-headers' },
        { endpoint: 'query', times: Infinity },
      );
      const started = Date.now();

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2_000);
      // 500 ms of budget holds two full 200 ms attempts and a clipped third, never ten.
      expect(calls(gateway.simulator, 'query').length).toBeGreaterThanOrEqual(2);
      expect(calls(gateway.simulator, 'query').length).toBeLessThanOrEqual(4);
    });

    it('a dropped connection on query → retried, and the lookup answers', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject({ kind: 'drop' }, { endpoint: 'query' });

      const { body } = await gateway.gql(LookupNumbersDocument, { to: [NUMBER] });

      expect(body.errors).toBeUndefined();
      expect(body.data!.lookupNumbers[0]).toMatchObject({ to: NUMBER, mccMnc: '22801' });
      expect(calls(gateway.simulator, 'query')).toHaveLength(2);
      expectNoLeak([body], logs, simulatorSecrets(gateway.simulator));
    });

    it('a dropped connection on every attempt → UPSTREAM_UNAVAILABLE after UPSTREAM_MAX_ATTEMPTS calls', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject({ kind: 'drop' }, { endpoint: 'query', times: Infinity });

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(calls(gateway.simulator, 'query')).toHaveLength(3);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });
  });

  describe('answers that cannot be understood', () => {
    it.each([
      ['truncated', 'truncated' as const],
      ['not JSON (an HTML page)', 'non-json' as const],
    ])('a 200 body %s → UPSTREAM_BAD_RESPONSE, not retried, body not echoed', async (_name, kind) => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject({ kind }, { endpoint: 'query', times: Infinity });

      const error = onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE', upstream: { status: 200 } });
      expect(calls(gateway.simulator, 'query')).toHaveLength(1);
      expect(JSON.stringify(error)).not.toMatch(/<html|<!DOCTYPE|"results"|22801/i);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });
  });

  describe('notify: a second request is a second charge', () => {
    it('dropped connection → exactly one notify, UPSTREAM_UNAVAILABLE, outcome unknown, requestId kept PENDING', async () => {
      const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES, { simulator });
      simulator.faults.inject({ kind: 'drop' }, { endpoint: 'notify', times: Infinity });

      const error = onlyError(await gateway.gql(RequestLookupDocument, { to: [NUMBER, '41793026728'] }));

      expect(error.extensions).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        upstream: { outcomeKnown: false },
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      });
      expect(calls(simulator, 'notify')).toHaveLength(1);
      expectNoLeak([error], logs, simulatorSecrets(simulator));

      // The provider may have accepted it: the request waits for a late callback, which still lands.
      const requestId = error.extensions.requestId as string;
      const pending = await gateway.gql(LookupRequestDocument, { id: requestId });
      expect(pending.body.data!.lookupRequest).toMatchObject({ state: 'PENDING', results: [] });
      const notifyUrl = (calls(simulator, 'notify')[0].body as { notifyUrl: string }).notifyUrl;
      const late = await gateway.postCallback(notifyUrl, {
        results: [NUMBER, '41793026728'].map((to) => ({ ...simulateLookup(to), messageId: `m-${to}` })),
      });
      expect(late.status).toBe(200);
      const done = await gateway.gql(LookupRequestDocument, { id: requestId });
      expect(done.body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED' });
      expect(done.body.data!.lookupRequest!.results.map((r) => r.to)).toEqual([NUMBER, '41793026728']);
      expect(calls(simulator, 'notify')).toHaveLength(1);
    });

    it('500 → exactly one notify, UPSTREAM_UNAVAILABLE with outcome unknown and requestId', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject(
        { kind: 'status', status: 500 },
        { endpoint: 'notify', times: Infinity },
      );

      const error = onlyError(await gateway.gql(RequestLookupDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        upstream: { status: 500, outcomeKnown: false },
        requestId: expect.any(String),
      });
      expect(calls(gateway.simulator, 'notify')).toHaveLength(1);
      expectNoLeak([error], logs, simulatorSecrets(gateway.simulator));
    });

    it('a truncated acknowledgement → the request, without bulkId; the callbacks complete it', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject({ kind: 'truncated' }, { endpoint: 'notify' });

      const { body: created } = await gateway.gql(RequestLookupDocument, { to: [NUMBER] });

      expect(created.errors).toBeUndefined();
      // PENDING, unless the callback (20 ms later) beat the read-back.
      expect(created.data!.requestLookup).toMatchObject({ bulkId: null, to: [NUMBER] });
      expect(['PENDING', 'COMPLETED']).toContain(created.data!.requestLookup.state);
      expect(calls(gateway.simulator, 'notify')).toHaveLength(1);
      await gateway.simulator.waitForCallback((c) => c.status === 200);
      const { body } = await gateway.gql(LookupRequestDocument, { id: created.data!.requestLookup.id });
      expect(body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED', results: [{ to: NUMBER }] });
      expectNoLeak([created, body], logs, simulatorSecrets(gateway.simulator));
    });

    it('429 → resent (refused means not charged), and the request is acknowledged', async () => {
      const { gateway, logs } = await startGateway(harness, FAST_RETRIES);
      gateway.simulator.faults.inject({ kind: 'status', status: 429 }, { endpoint: 'notify' });

      const { body } = await gateway.gql(RequestLookupDocument, { to: [NUMBER] });

      expect(body.errors).toBeUndefined();
      expect(body.data!.requestLookup).toMatchObject({ state: 'PENDING', bulkId: expect.any(String) });
      expect(calls(gateway.simulator, 'notify')).toHaveLength(2);
      expectNoLeak([body], logs, simulatorSecrets(gateway.simulator));
    });

    it('connection refused (never sent) → resent up to UPSTREAM_MAX_ATTEMPTS, then UPSTREAM_UNAVAILABLE, outcome known', async () => {
      const port = await closedPort();
      const baseUrl = `http://127.0.0.1:${port}`;
      const apiKey = 'provider-key-never-shown';
      const { gateway, logs } = await startGateway(harness, {
        ...FAST_RETRIES,
        INFOBIP_BASE_URL: baseUrl,
        INFOBIP_API_KEY: apiKey,
      });

      const error = onlyError(await gateway.gql(RequestLookupDocument, { to: [NUMBER] }));

      expect(error.extensions).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        upstream: { outcomeKnown: true },
      });
      // Nothing reached a provider, so there is no request to come back to.
      expect(error.extensions.requestId).toBeUndefined();
      // No simulator to count on: the per-attempt metric is the provider call count.
      const notifyAttempts = await metric(gateway, 'gateway_provider_call_duration_seconds_count', {
        endpoint: 'notify',
      });
      expect(notifyAttempts).toBe(3);
      expect(await metric(gateway, 'gateway_provider_retries_total', { reason: 'ECONNREFUSED' })).toBe(2);
      expectNoLeak([error], logs, { apiKey, baseUrl, callbackSecrets: [] });
    });
  });

  describe('circuit breaker', () => {
    it('opens after UPSTREAM_BREAKER_THRESHOLD failures, fails fast, shows its state, and probes after the cooldown', async () => {
      const cooldownMs = 1_000;
      const { gateway, logs } = await startGateway(harness, {
        ...FAST_RETRIES,
        UPSTREAM_MAX_ATTEMPTS: '1',
        UPSTREAM_BREAKER_THRESHOLD: '3',
        UPSTREAM_BREAKER_COOLDOWN_MS: String(cooldownMs),
      });
      const { simulator } = gateway;
      const lookup = () => gateway.gql(LookupNumbersDocument, { to: [NUMBER] });
      expect(await metric(gateway, 'gateway_provider_breaker_state')).toBe(0);

      simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query', times: Infinity });
      for (let i = 0; i < 3; i++)
        expect(onlyError(await lookup()).extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      const openedAt = performance.now();
      expect(calls(simulator, 'query')).toHaveLength(3);
      expect(await metric(gateway, 'gateway_provider_breaker_state')).toBe(2);
      expect(breakerLog(logs)).toEqual(['open']);

      // Open: fails fast without a provider call, for every endpoint.
      const fastFail = onlyError(await lookup());
      expect(fastFail.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      const fastNotify = onlyError(await gateway.gql(RequestLookupDocument, { to: [NUMBER] }));
      expect(fastNotify.extensions).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        upstream: { outcomeKnown: true },
      });
      expect(simulator.received).toHaveLength(3);
      expect(performance.now() - openedAt).toBeLessThan(cooldownMs);

      // After the cooldown one probe goes through; it fails, so the breaker opens again.
      await until(() => performance.now() - openedAt > cooldownMs + 5, 5_000, 'the cooldown');
      expect(onlyError(await lookup()).extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      const reopenedAt = performance.now();
      expect(calls(simulator, 'query')).toHaveLength(4);
      expect(await metric(gateway, 'gateway_provider_breaker_state')).toBe(2);
      expect(onlyError(await lookup()).extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(calls(simulator, 'query')).toHaveLength(4);

      // The provider recovers: the next probe succeeds and closes the breaker.
      simulator.faults.clear();
      await until(() => performance.now() - reopenedAt > cooldownMs + 5, 5_000, 'the cooldown');
      const { body } = await lookup();
      expect(body.errors).toBeUndefined();
      expect(calls(simulator, 'query')).toHaveLength(5);
      expect(await metric(gateway, 'gateway_provider_breaker_state')).toBe(0);
      expect(breakerLog(logs)).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
      expectNoLeak([], logs, simulatorSecrets(simulator));
    });

    it('400, 401 and 429 answers do not open it: the provider is healthy, just saying no', async () => {
      const { gateway } = await startGateway(harness, {
        ...FAST_RETRIES,
        UPSTREAM_MAX_ATTEMPTS: '1',
        UPSTREAM_BREAKER_THRESHOLD: '2',
      });
      for (const status of [400, 401, 429, 400]) {
        gateway.simulator.faults.inject({ kind: 'status', status }, { endpoint: 'query' });
        expect(onlyError(await gateway.gql(LookupNumbersDocument, { to: [NUMBER] })).extensions.code).toMatch(
          /^UPSTREAM_/,
        );
      }
      const { body } = await gateway.gql(LookupNumbersDocument, { to: [NUMBER] });
      expect(body.errors).toBeUndefined();
      expect(calls(gateway.simulator, 'query')).toHaveLength(5);
      expect(await metric(gateway, 'gateway_provider_breaker_state')).toBe(0);
    });
  });

  describe('chunking above the provider limit of 1000 numbers per call', () => {
    /** 2,500 distinct valid numbers in a scrambled (not sorted) order, so input order is really tested. */
    const numbers = Array.from(
      { length: 2_500 },
      (_, i) => `41793${String((i * 7_919) % 2_500).padStart(6, '0')}`,
    );

    it('lookupNumbers: 2,500 numbers → 2,500 results in input order from exactly 3 provider calls', async () => {
      const { gateway } = await startGateway(harness, { MAX_NUMBERS_PER_OPERATION: '2500' });

      const { body } = await gateway.gql(LookupNumbersDocument, { to: numbers });

      expect(body.errors).toBeUndefined();
      const results = body.data!.lookupNumbers;
      expect(results.map((r) => r.to)).toEqual(numbers);
      for (const [i, result] of results.entries()) {
        const answer = simulateLookup(numbers[i]);
        expect([result.mccMnc, result.status?.name, result.error?.name]).toEqual([
          answer.mccMnc,
          answer.status?.name,
          answer.error?.name,
        ]);
      }
      const sent = calls(gateway.simulator, 'query').map((r) => (r.body as { to: string[] }).to);
      expect(sent.map((to) => to.length).sort()).toEqual([1_000, 1_000, 500]);
      expect(new Set(sent.flat())).toEqual(new Set(numbers));
    }, 60_000);

    it('requestLookup: 2,500 numbers → 3 notify calls, every bulkId recorded, the subscription completes', async () => {
      const { gateway } = await startGateway(harness, { MAX_NUMBERS_PER_OPERATION: '2500' });

      const { body } = await gateway.gql(RequestLookupDocument, { to: numbers });

      expect(body.errors).toBeUndefined();
      const request = body.data!.requestLookup;
      expect(request.to).toEqual(numbers);
      const notifies = calls(gateway.simulator, 'notify');
      expect(notifies.map((r) => (r.body as { to: string[] }).to.length)).toEqual([1_000, 1_000, 500]);
      expect(notifies.flatMap((r) => (r.body as { to: string[] }).to)).toEqual(numbers);
      expect(new Set(request.bulkIds).size).toBe(3);
      expect(request.bulkId).toBe(request.bulkIds[0]);

      const subscription = gateway.subscribe(gateway.wsClient(), LookupCompletedDocument, {
        requestId: request.id,
      });
      const events = await subscription.completed(15_000);
      expect(events).toHaveLength(2_500);
      expect(new Set(events.map((e) => e.data!.lookupCompleted.to))).toEqual(new Set(numbers));
      const done = await gateway.gql<
        { lookupRequest: { state: string; bulkIds: string[]; results: { to: string }[] } },
        { id: string }
      >('query ($id: ID!) { lookupRequest(id: $id) { state bulkIds results { to } } }', { id: request.id });
      expect(done.body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED', bulkIds: request.bulkIds });
      expect(done.body.data!.lookupRequest.results).toHaveLength(2_500);

      // The bulk ids are the provider's own: its history holds each one's lookups, 2,500 in all.
      const perBulk: number[] = [];
      for (const bulkId of request.bulkIds) {
        const history = await gateway.gql(LookupLogsDocument, {
          filter: { bulkIds: [bulkId], limit: 1_000 },
        });
        expect(history.body.errors).toBeUndefined();
        expect(history.body.data!.lookupLogs.every((l) => l.bulkId === bulkId)).toBe(true);
        perBulk.push(history.body.data!.lookupLogs.length);
      }
      expect(perBulk).toEqual([1_000, 1_000, 500]);
    }, 60_000);
  });
});
