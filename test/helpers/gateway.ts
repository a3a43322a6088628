import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import WebSocket from 'ws';
import { buildApp, type GatewayApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { startProviderSimulator, type ProviderSimulator, type SimulatorOptions } from '../../src/simulator';
import { within } from './deadline';

/** Everything a test started, disposed together in afterEach. */
export class Harness {
  private readonly disposers: (() => Promise<unknown>)[] = [];

  defer(dispose: () => Promise<unknown>): void {
    this.disposers.unshift(dispose);
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const dispose of this.disposers.splice(0)) {
      await dispose().catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) throw errors[0];
  }

  /** A built-in simulator on port 0 (callbacks after 20 ms unless told otherwise). */
  async simulator(options: SimulatorOptions = {}): Promise<ProviderSimulator> {
    const simulator = await startProviderSimulator({ callbackDelayMs: 20, ...options });
    this.defer(() => simulator.dispose());
    return simulator;
  }

  /** A started gateway on port 0 against `simulator` (or a fresh one), configured through env-style settings. */
  async gateway(
    env: Record<string, string> = {},
    options: { simulator?: ProviderSimulator } = {},
  ): Promise<TestGateway> {
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env });
    const simulator = env.INFOBIP_BASE_URL ? undefined : (options.simulator ?? (await this.simulator()));
    const app = buildApp(config, { simulator, logger: createLogger({ level: 'silent' }) });
    await app.start();
    this.defer(() => app.stop());
    return new TestGateway(app, simulator as ProviderSimulator, this);
  }
}

/** An HTTP GraphQL response. */
export interface HttpResult<TData> {
  status: number;
  body: ExecutionResult<TData> & { errors?: { message: string; extensions?: Record<string, unknown> }[] };
  headers: Headers;
}

/** A running gateway plus clients that talk to it for real. */
export class TestGateway {
  constructor(
    readonly app: GatewayApp,
    readonly simulator: ProviderSimulator,
    private readonly harness: Harness,
  ) {}

  /** POSTs an operation to /graphql. */
  async gql<TData, TVars>(
    document: TypedDocumentNode<TData, TVars> | string,
    variables?: TVars,
    headers: Record<string, string> = {},
  ): Promise<HttpResult<TData>> {
    const response = await fetch(this.app.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
    });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text), headers: response.headers };
  }

  /** A graphql-ws client that the harness disposes; `lazy: false` so it connects at once. */
  wsClient(options: Partial<ClientOptions> = {}): Client {
    const client = createClient({
      url: this.app.wsUrl,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      ...options,
    });
    this.harness.defer(() => client.dispose() as Promise<void>);
    return client;
  }

  /** Subscribes and collects every event; see {@link Subscription}. */
  subscribe<TData, TVars>(
    client: Client,
    document: TypedDocumentNode<TData, TVars>,
    variables: TVars,
  ): Subscription<TData> {
    return new Subscription(client, print(document), variables as Record<string, unknown>);
  }

  /** POSTs a raw body to a callback URL (as the provider would). */
  async postCallback(url: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    });
    return {
      status: response.status,
      body: (await response.json().catch(() => null)) as Record<string, unknown> | null,
    };
  }
}

/** One subscription's events, with waits that have deadlines instead of sleeps. */
export class Subscription<TData> {
  readonly events: ExecutionResult<TData>[] = [];
  readonly done: Promise<'complete' | { error: unknown }>;
  private readonly waiters: (() => void)[] = [];
  private unsubscribe: () => void;
  finished = false;

  constructor(client: Client, query: string, variables: Record<string, unknown>) {
    let settle!: (value: 'complete' | { error: unknown }) => void;
    this.done = new Promise((resolve) => (settle = resolve));
    this.unsubscribe = client.subscribe<TData>(
      { query, variables },
      {
        next: (value) => {
          this.events.push(value as ExecutionResult<TData>);
          this.notify();
        },
        error: (error) => {
          this.finished = true;
          settle({ error });
          this.notify();
        },
        complete: () => {
          this.finished = true;
          settle('complete');
          this.notify();
        },
      },
    );
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Resolves once at least `count` events arrived. */
  async waitForEvents(count: number, ms = 5_000): Promise<ExecutionResult<TData>[]> {
    await within(
      new Promise<void>((resolve) => {
        const check = () =>
          this.events.length >= count || this.finished ? resolve() : this.waiters.push(check);
        check();
      }),
      ms,
      `${count} subscription events (got ${this.events.length})`,
    );
    return this.events;
  }

  /** Resolves when the server completed the subscription (rejects on error or deadline). */
  async completed(ms = 5_000): Promise<ExecutionResult<TData>[]> {
    const outcome = await within(this.done, ms, 'the subscription to complete');
    if (outcome !== 'complete') throw new Error(`subscription failed: ${JSON.stringify(outcome.error)}`);
    return this.events;
  }

  /** Stops listening (client-side complete). */
  stop(): void {
    this.unsubscribe();
  }
}
