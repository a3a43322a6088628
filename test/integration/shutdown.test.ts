import { spawn, type ChildProcess } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { print } from 'graphql';
import { LookupCompletedDocument, LookupRequestDocument } from '../fixtures/generated/graphql';
import { until, within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';
import {
  callbackUrlAt,
  eventually,
  finalResult,
  notifyUrlOf,
  requestLookup,
  startInstances,
  STORE_MODES,
} from '../helpers/instances';
import { RawGraphqlSocket } from '../helpers/raw-ws';
import { cleanUpPrefix, TEST_REDIS_URL, uniquePrefix } from '../helpers/redis';

const NUMBERS = ['41793026720', '41793026724', '41793026725'];
const SHUTDOWN_TIMEOUT_MS = 8_000;
const ROOT = join(__dirname, '..', '..');

/** Resolves true when nothing listens on `url`'s port any more (a fresh TCP connection is refused). */
function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

interface GatewayProcess {
  child: ChildProcess;
  /** The GraphQL URL the process logged. */
  graphqlUrl: string;
  /** The built-in simulator's URL the process logged. */
  simulatorUrl: string;
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `src/index.ts` as the real entry point does, on a free port, and reads its URLs from its JSON log. */
async function startGatewayProcess(harness: Harness, env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/index.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      // ts-node with CommonJS output: the project's node16 settings are for the compiler, not for the loader.
      TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: 'commonjs', moduleResolution: 'node10' }),
      NODE_ENV: 'development',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      SIMULATOR_CALLBACK_DELAY_MS: '60000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  harness.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let buffered = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          continue;
        }
        if (logs.at(-1)!.msg === 'number lookup gateway listening') resolve();
      }
    });
    void exited.then(({ code }) => reject(new Error(`gateway exited (${code}) before listening: ${stderr}`)));
  });
  await within(listening, 30_000, 'the gateway process to listen');
  const graphqlUrl = logs.find((l) => l.msg === 'number lookup gateway listening')!.url as string;
  const simulatorUrl = logs.find((l) => typeof l.simulator === 'string')!.simulator as string;
  return { child, graphqlUrl, simulatorUrl, logs, exited };
}

/** Makes the gateway process's simulator take `ms` to answer its next query call. */
async function slowQueries(simulatorUrl: string, ms: number): Promise<void> {
  await fetch(`${simulatorUrl}/__simulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ fault: { kind: 'latency', ms }, endpoint: 'query' }),
  });
}

/** Resolves once the gateway process's simulator has received a call to `path`. */
async function providerReceived(simulatorUrl: string, path: string): Promise<void> {
  await eventually(
    async () => {
      const body = (await (await fetch(`${simulatorUrl}/__simulator/requests`)).json()) as {
        requests: { path: string }[];
      };
      return body.requests.some((r) => r.path === path);
    },
    5_000,
    `the provider to receive ${path}`,
  );
}

async function graphql(url: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  return { status: response.status, body };
}

describe.each(STORE_MODES)('graceful shutdown ($name)', (mode) => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('on SIGTERM closes WebSockets with 1001, finishes in-flight operations and exits 0 in time', async () => {
    const prefix = uniquePrefix('shutdown');
    if (mode.redis) await cleanUpPrefix(harness, prefix);
    const gateway = await startGatewayProcess(
      harness,
      mode.redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix } : {},
    );
    const { graphqlUrl, simulatorUrl } = gateway;
    const wsUrl = graphqlUrl.replace(/^http/, 'ws');

    const created = await graphql(
      graphqlUrl,
      'mutation ($to: [String!]!) { requestLookup(to: $to) { id } }',
      {
        to: NUMBERS,
      },
    );
    const requestId = (created.body.data!.requestLookup as { id: string }).id;
    const { requests } = (await (await fetch(`${simulatorUrl}/__simulator/requests`)).json()) as {
      requests: { path: string; body: { notifyUrl?: string } }[];
    };
    const notifyUrl = requests.find((r) => r.path === '/number/1/notify')!.body.notifyUrl!;

    // Two subscribers, proven attached by receiving the first result.
    const subscribers = await Promise.all([1, 2].map(() => RawGraphqlSocket.open(wsUrl)));
    for (const subscriber of subscribers) {
      subscriber.subscribe('1', print(LookupCompletedDocument), { requestId });
    }
    // Posting until both saw it: the process gives no signal of a subscription being live.
    await eventually(
      async () => {
        await fetch(notifyUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ results: [finalResult(NUMBERS[0])] }),
        });
        return subscribers.every((s) => s.messages.some((m) => m.type === 'next'));
      },
      10_000,
      'both subscribers to be attached',
    );

    // An operation in flight: the provider (the built-in simulator) takes 1.5 s to answer it.
    await slowQueries(simulatorUrl, 1_500);
    const inFlight = graphql(graphqlUrl, 'query ($to: [String!]!) { lookupNumbers(to: $to) { to mccMnc } }', {
      to: [NUMBERS[1]],
    });
    await providerReceived(simulatorUrl, '/number/1/query');

    const signalledAt = Date.now();
    gateway.child.kill('SIGTERM');
    const closes = await within(
      Promise.all(subscribers.map((s) => s.closed)),
      5_000,
      'the WebSockets to be closed',
    );
    expect(closes.map((c) => c.code)).toEqual([1001, 1001]);
    // No longer accepting while the in-flight operation is finishing.
    expect(await refusesConnections(graphqlUrl)).toBe(true);

    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(answered.body.errors).toBeUndefined();
    expect(answered.body.data!.lookupNumbers).toEqual([{ to: NUMBERS[1], mccMnc: expect.any(String) }]);

    expect(await within(gateway.exited, SHUTDOWN_TIMEOUT_MS, 'the process to exit')).toEqual({
      code: 0,
      signal: null,
    });
    expect(Date.now() - signalledAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    const messages = gateway.logs.map((l) => l.msg);
    expect(messages).toContain('shutting down');
    expect(messages).toContain('number lookup gateway stopped');
  }, 60_000);

  it('app.stop() finishes an in-flight callback while closing subscribers with 1001', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const [gateway, other] = await startInstances(harness, mode, 2, simulator);
    if (!mode.redis) expect(other).toBe(gateway);
    const request = await requestLookup(gateway, NUMBERS);
    const notifyUrl = await notifyUrlOf(simulator, request.id);
    let closeCode: number | undefined;
    const subscription = gateway.subscribe(
      gateway.wsClient({
        on: { closed: (event) => (closeCode = (event as { code: number }).code) },
        // Going away is what this test expects; graphql-ws would log it to the console by default.
        onNonLazyError: () => undefined,
      }),
      LookupCompletedDocument,
      { requestId: request.id },
    );
    await until(() => gateway.app.internals.registry.stats().activeWatches === 1, 5_000, 'the subscription');

    // A callback whose body is still arriving when the gateway is told to stop.
    const { pathname } = new URL(notifyUrl);
    const started = new Promise<void>((resolve) => {
      const onStart = (message: unknown) => {
        if ((message as { request: IncomingMessage }).request.url !== pathname) return;
        diagnosticsChannel.unsubscribe('http.server.request.start', onStart);
        resolve();
      };
      diagnosticsChannel.subscribe('http.server.request.start', onStart);
    });
    const body = Buffer.from(JSON.stringify({ results: NUMBERS.map((n) => finalResult(n)) }));
    const callback = httpRequest(notifyUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    });
    const response = new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      callback.once('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      callback.once('error', reject);
    });
    callback.write(body.subarray(0, 10));
    await within(started, 5_000, 'the callback to reach the gateway');

    const stopped = gateway.app.stop();
    await until(() => closeCode !== undefined, 5_000, 'the subscriber to be closed');
    expect(closeCode).toBe(1001);
    expect(subscription.finished).toBe(true);
    expect(await refusesConnections(gateway.app.url)).toBe(true);

    callback.end(body.subarray(10));
    expect(await within(response, 5_000, 'the callback answer')).toMatchObject({
      status: 200,
      body: { code: 'ACCEPTED', stored: 3 },
    });
    await within(stopped, SHUTDOWN_TIMEOUT_MS, 'app.stop()');

    if (mode.redis) {
      // Stored for good: another instance has it, complete.
      const { body: after } = await other.gql(LookupRequestDocument, { id: request.id });
      expect(after.data!.lookupRequest).toMatchObject({ state: 'COMPLETED' });
      expect(after.data!.lookupRequest!.results).toHaveLength(3);
      const replay = other.subscribe(other.wsClient(), LookupCompletedDocument, { requestId: request.id });
      expect(await replay.completed()).toHaveLength(3);
      expect((await other.postCallback(callbackUrlAt(notifyUrl, other), { results: [] })).status).toBe(200);
    }
  });
});

describe('shutdown past its bound, and a killed instance', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('on SIGINT cuts an operation outlasting SHUTDOWN_TIMEOUT_MS, still stops cleanly, and exits 1', async () => {
    const gateway = await startGatewayProcess(harness, { SHUTDOWN_TIMEOUT_MS: '1000' });
    const { graphqlUrl, simulatorUrl } = gateway;
    await slowQueries(simulatorUrl, 30_000);
    const stuck = graphql(graphqlUrl, 'query ($to: [String!]!) { lookupNumbers(to: $to) { to } }', {
      to: [NUMBERS[0]],
    }).catch((error: unknown) => error);
    await providerReceived(simulatorUrl, '/number/1/query');

    const signalledAt = Date.now();
    gateway.child.kill('SIGINT');
    expect(await within(gateway.exited, 5_000, 'the process to exit')).toEqual({ code: 1, signal: null });
    // Cut at the bound less its reserve (half of a 1 s bound), then stopped cleanly: exit 1 all the same.
    const tookMs = Date.now() - signalledAt;
    expect(tookMs).toBeGreaterThanOrEqual(450);
    expect(tookMs).toBeLessThan(4_000);
    // The client of the cut operation gets a closed connection, not a hang.
    expect(String(await within(stuck, 5_000, 'the cut request to end'))).toMatch(/fetch failed/);
    const messages = gateway.logs.map((l) => l.msg);
    expect(messages).toContain('operations still running at the shutdown bound were cut');
    expect(messages).toContain('number lookup gateway stopped');
  }, 60_000);

  it('with Redis, an instance killed with SIGKILL between requestLookup and the callback loses nothing', async () => {
    const prefix = uniquePrefix('killed');
    await cleanUpPrefix(harness, prefix);
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix };
    const killed = await startGatewayProcess(harness, env);
    const created = await graphql(
      killed.graphqlUrl,
      'mutation ($to: [String!]!) { requestLookup(to: $to) { id } }',
      {
        to: NUMBERS,
      },
    );
    const requestId = (created.body.data!.requestLookup as { id: string }).id;
    const { requests } = (await (await fetch(`${killed.simulatorUrl}/__simulator/requests`)).json()) as {
      requests: { path: string; body: { notifyUrl?: string } }[];
    };
    const notifyUrl = requests.find((r) => r.path === '/number/1/notify')!.body.notifyUrl!;
    killed.child.kill('SIGKILL');
    expect((await within(killed.exited, 5_000, 'the kill')).signal).toBe('SIGKILL');

    // Its replacement: another instance on the same Redis, where the provider's retries now land.
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const [replacement] = await startInstances(harness, { name: 'redis', redis: true }, 1, simulator, {
      REDIS_KEY_PREFIX: prefix,
    });
    const subscription = replacement.subscribe(replacement.wsClient(), LookupCompletedDocument, {
      requestId,
    });
    await until(
      () => replacement.app.internals.registry.stats().activeWatches === 1,
      5_000,
      'the subscription',
    );
    const url = callbackUrlAt(notifyUrl, replacement);
    expect(
      (await replacement.postCallback(url, { results: NUMBERS.map((n) => finalResult(n)) })).status,
    ).toBe(200);

    const delivered = await subscription.completed();
    expect(delivered.map((r) => r.data!.lookupCompleted.to).sort()).toEqual([...NUMBERS].sort());
    const { body } = await replacement.gql(LookupRequestDocument, { id: requestId });
    expect(body.data!.lookupRequest).toMatchObject({ state: 'COMPLETED' });
  }, 60_000);
});
