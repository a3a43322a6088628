import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { createLogger, type Logger } from '../observability/logger';
import type { ProviderResult, ProviderResultsResponse } from '../upstream/provider-types';
import { CallbackDispatcher, DEFAULT_CALLBACK_RETRIES, type CallbackPlan } from './callback-dispatcher';
import { checkBehaviour, checkFault, FaultQueue } from './faults';
import { LookupLog, parseLogsQuery } from './lookup-log';
import { defaultFaultBody, providerErrorBody, UNAUTHORIZED_BODY } from './provider-errors';
import { MAX_NUMBER_LENGTH, simulateLookup, STATUSES } from './scenarios';
import type {
  Fault,
  FaultEndpoint,
  ProviderSimulator,
  RecordedCallback,
  RecordedRequest,
  SimulatorOptions,
} from './types';

/** Default API key of the simulator. */
export const DEFAULT_SIMULATOR_API_KEY = 'simulator-key';
/** Default delay between the notify acknowledgement and the callback. */
export const DEFAULT_CALLBACK_DELAY_MS = 200;
/** Most numbers per query or notify request. */
export const MAX_NUMBERS_PER_REQUEST = 1_000;
/** GET /number/1/logs answers 429 beyond this many requests in {@link LOGS_WINDOW_MS}. */
export const LOGS_RATE_LIMIT = 60;
/** The rolling window of the logs rate limit. */
export const LOGS_WINDOW_MS = 60_000;
/** Recorded requests and callbacks kept at most (the oldest go first), so long benchmarks stay bounded. */
export const MAX_RECORDED = 100_000;
/** Request bodies larger than this are answered 413 (1000 numbers of 256 characters fit easily). */
export const MAX_BODY_BYTES = 4 * 1_024 * 1_024;
/** How long `waitForRequest`/`waitForCallback` wait when not told. */
export const DEFAULT_WAIT_TIMEOUT_MS = 5_000;

type Endpoint = Exclude<FaultEndpoint, 'any'>;

const ROUTES: Readonly<Record<string, { endpoint: Endpoint; method: string }>> = {
  '/number/1/query': { endpoint: 'query', method: 'POST' },
  '/number/1/notify': { endpoint: 'notify', method: 'POST' },
  '/number/1/logs': { endpoint: 'logs', method: 'GET' },
};

const AUTH_HEADER = /^(?:App|Bearer)\s+(\S+)\s*$/i;
const JSON_HEADERS = { 'content-type': 'application/json' } as const;
const NON_JSON_PAGE =
  '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>';
/** Memoised results: libphonenumber parsing dominates the hot path otherwise. */
const RESULT_CACHE_LIMIT = 50_000;

interface Reply {
  status: number;
  body: string | Buffer;
  headers?: Record<string, string>;
}

interface CachedResult {
  result: ProviderResult;
  json: string;
}

type Validated<T> = { ok: true; value: T } | { ok: false; reply: Reply };

function jsonReply(status: number, value: unknown, headers?: Record<string, string>): Reply {
  return { status, body: JSON.stringify(value), headers };
}

function badRequest(validationErrors: Record<string, string[]>): Reply {
  return jsonReply(400, providerErrorBody('BAD_REQUEST', 'Bad request', validationErrors));
}

function parseQuery(search: string): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  if (!search) return query;
  for (const [key, value] of new URLSearchParams(search)) (query[key] ??= []).push(value);
  return query;
}

function parseBody(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function validateNumbers(body: unknown, rawWasJson: boolean): Validated<string[]> {
  if (!rawWasJson || typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, reply: badRequest({ body: ['must be a JSON object'] }) };
  }
  const to = (body as { to?: unknown }).to;
  if (to === undefined || to === null) return { ok: false, reply: badRequest({ to: ['must not be null'] }) };
  if (!Array.isArray(to) || !to.every((n) => typeof n === 'string')) {
    return { ok: false, reply: badRequest({ to: ['must be an array of strings'] }) };
  }
  if (to.length === 0) return { ok: false, reply: badRequest({ to: ['must not be empty'] }) };
  if (to.length > MAX_NUMBERS_PER_REQUEST) {
    return {
      ok: false,
      reply: badRequest({ to: [`size must be between 1 and ${MAX_NUMBERS_PER_REQUEST}`] }),
    };
  }
  return { ok: true, value: to as string[] };
}

function checkDelay(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !(value >= 0) || !isFinite(value))) {
    throw new RangeError(`${name} must be a non-negative number of milliseconds`);
  }
}

function checkMode(value: unknown): void {
  if (value !== undefined && value !== 'single' && value !== 'per-number') {
    throw new RangeError("callbackMode must be 'single' or 'per-number'");
  }
}

/** Waiters for a future recorded item, each with its own deadline. */
class Waiters<T> {
  private list: {
    predicate: (item: T) => boolean;
    resolve: (item: T) => void;
    reject: (err: Error) => void;
    timer: NodeJS.Timeout;
  }[] = [];

  wait(existing: readonly T[], predicate: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const found = existing.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const entry = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.list = this.list.filter((e) => e !== entry);
          reject(new Error(`no matching ${what} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.list.push(entry);
    });
  }

  offer(item: T): void {
    if (this.list.length === 0) return;
    const keep = [];
    for (const entry of this.list) {
      let matched = false;
      try {
        matched = entry.predicate(item);
      } catch (err) {
        clearTimeout(entry.timer);
        entry.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (matched) {
        clearTimeout(entry.timer);
        entry.resolve(item);
      } else {
        keep.push(entry);
      }
    }
    this.list = keep;
  }

  rejectAll(reason: string): void {
    for (const entry of this.list) {
      clearTimeout(entry.timer);
      entry.reject(new Error(reason));
    }
    this.list = [];
  }
}

function pushBounded<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_RECORDED * 1.25) list.splice(0, list.length - MAX_RECORDED);
}

class Simulator implements ProviderSimulator {
  url = '';
  readonly apiKey: string;
  readonly received: RecordedRequest[] = [];
  readonly callbacks: RecordedCallback[] = [];
  readonly faults = new FaultQueue();

  private latencyMs: number;
  private callbackDelayMs: number;
  private callbackMode: 'single' | 'per-number';
  private readonly logger: Logger;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly delays = new Map<NodeJS.Timeout, () => void>();
  private readonly lookupLog = new LookupLog();
  private readonly requestWaiters = new Waiters<RecordedRequest>();
  private readonly callbackWaiters = new Waiters<RecordedCallback>();
  private readonly dispatcher: CallbackDispatcher;
  private readonly resultCache = new Map<string, CachedResult>();
  private logsHits: number[] = [];
  private disposed = false;
  private disposing: Promise<void> | undefined;

  constructor(options: SimulatorOptions) {
    this.apiKey = options.apiKey ?? DEFAULT_SIMULATOR_API_KEY;
    this.latencyMs = options.latencyMs ?? 0;
    this.callbackDelayMs = options.callbackDelayMs ?? DEFAULT_CALLBACK_DELAY_MS;
    this.callbackMode = options.callbackMode ?? 'single';
    this.logger = options.logger ?? createLogger({ level: 'silent', name: 'provider-simulator' });
    this.dispatcher = new CallbackDispatcher((attempt) => {
      pushBounded(this.callbacks, attempt);
      this.callbackWaiters.offer(attempt);
    }, this.logger);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error({ err }, 'simulator request failed');
        if (!res.headersSent) this.send(res, jsonReply(500, defaultFaultBody(500)));
        else res.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('simulator has no TCP address');
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `http://${hostPart}:${address.port}`;
  }

  setOptions(
    options: Partial<Pick<SimulatorOptions, 'latencyMs' | 'callbackDelayMs' | 'callbackMode'>>,
  ): void {
    checkDelay('latencyMs', options.latencyMs);
    checkDelay('callbackDelayMs', options.callbackDelayMs);
    checkMode(options.callbackMode);
    if (options.latencyMs !== undefined) this.latencyMs = options.latencyMs;
    if (options.callbackDelayMs !== undefined) this.callbackDelayMs = options.callbackDelayMs;
    if (options.callbackMode !== undefined) this.callbackMode = options.callbackMode;
  }

  waitForRequest(
    predicate: (r: RecordedRequest) => boolean = () => true,
    timeoutMs = DEFAULT_WAIT_TIMEOUT_MS,
  ): Promise<RecordedRequest> {
    if (this.disposed) return Promise.reject(new Error('simulator disposed'));
    return this.requestWaiters.wait(this.received, predicate, timeoutMs, 'request');
  }

  waitForCallback(
    predicate: (c: RecordedCallback) => boolean = () => true,
    timeoutMs = DEFAULT_WAIT_TIMEOUT_MS,
  ): Promise<RecordedCallback> {
    if (this.disposed) return Promise.reject(new Error('simulator disposed'));
    return this.callbackWaiters.wait(this.callbacks, predicate, timeoutMs, 'callback');
  }

  idle(): Promise<void> {
    return this.dispatcher.idle();
  }

  reset(): void {
    this.received.length = 0;
    this.callbacks.length = 0;
    this.faults.clear();
    this.lookupLog.clear();
    this.logsHits = [];
  }

  dispose(): Promise<void> {
    this.disposing ??= this.shutdown();
    return this.disposing;
  }

  private async shutdown(): Promise<void> {
    this.disposed = true;
    this.dispatcher.dispose();
    for (const [timer, wake] of this.delays) {
      clearTimeout(timer);
      wake();
    }
    this.delays.clear();
    this.requestWaiters.rejectAll('simulator disposed');
    this.callbackWaiters.rejectAll('simulator disposed');
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // stalled answers and kept-alive connections would hold close() open forever
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  /** Resolves true after `ms`, false at once if the simulator is disposed meanwhile. */
  private delay(ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(!this.disposed);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.delays.delete(timer);
        resolve(!this.disposed);
      }, ms);
      this.delays.set(timer, () => resolve(false));
    });
  }

  private send(res: http.ServerResponse, reply: Reply): void {
    const headers: Record<string, string | number> = {
      ...JSON_HEADERS,
      ...reply.headers,
      'content-length': Buffer.byteLength(reply.body),
    };
    res.writeHead(reply.status, headers);
    res.end(reply.body);
  }

  private async readBody(req: http.IncomingMessage): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      // keep draining rather than breaking out: leaving the iterator destroys the socket, and the 413 with it
      if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
    }
    if (size > MAX_BODY_BYTES) return undefined;
    return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const search = q === -1 ? '' : target.slice(q + 1);
    const method = req.method ?? 'GET';

    const raw = await this.readBody(req);
    if (raw === undefined) {
      this.send(res, jsonReply(413, providerErrorBody('BAD_REQUEST', 'Request body too large')));
      return;
    }
    if (path.startsWith('/__simulator/')) {
      this.send(res, this.control(method, path, raw));
      return;
    }
    if (!path.startsWith('/number/')) {
      this.send(res, jsonReply(404, defaultFaultBody(404)));
      return;
    }

    const body = parseBody(raw);
    const recorded: RecordedRequest = {
      method,
      path,
      query: parseQuery(search),
      headers: req.headers,
      body,
      at: Date.now(),
    };
    pushBounded(this.received, recorded);
    this.requestWaiters.offer(recorded);

    if (this.latencyMs > 0 && !(await this.delay(this.latencyMs))) return;
    const route = ROUTES[path] as (typeof ROUTES)[string] | undefined;
    let fault: Fault | undefined = this.faults.takeFault(route?.endpoint);
    // faults come before auth: they stand for proxies and networks, which answer without looking at keys
    if (fault) {
      switch (fault.kind) {
        case 'status':
          this.send(res, this.faultReply(fault));
          return;
        case 'latency':
          if (!(await this.delay(fault.ms))) return;
          fault = undefined;
          break;
        case 'stall-after-headers':
          res.writeHead(200, JSON_HEADERS);
          res.flushHeaders();
          return;
        case 'non-json':
          this.send(res, { status: 200, body: NON_JSON_PAGE, headers: { 'content-type': 'text/html' } });
          return;
        case 'drop':
          req.socket.destroy();
          return;
        case 'truncated':
          break;
      }
    }

    const reply = await this.provider(req, method, recorded, raw, route);
    if (this.disposed) return;
    if (fault?.kind === 'truncated') {
      const full = Buffer.from(reply.body);
      this.send(res, { status: 200, body: full.subarray(0, full.length >> 1) });
      return;
    }
    this.send(res, reply);
  }

  private faultReply(fault: Extract<Fault, { kind: 'status' }>): Reply {
    const headers: Record<string, string> = {};
    if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
    const body = fault.body ?? defaultFaultBody(fault.status);
    if (typeof body !== 'string') return jsonReply(fault.status, body, headers);
    let isJson = true;
    try {
      JSON.parse(body);
    } catch {
      isJson = false;
    }
    if (!isJson) headers['content-type'] = 'text/plain; charset=utf-8';
    return { status: fault.status, body, headers };
  }

  private isAuthorised(header: string | undefined): boolean {
    if (header === undefined) return false;
    const match = AUTH_HEADER.exec(header);
    return match !== null && match[1] === this.apiKey;
  }

  private async provider(
    req: http.IncomingMessage,
    method: string,
    recorded: RecordedRequest,
    raw: string,
    route: (typeof ROUTES)[string] | undefined,
  ): Promise<Reply> {
    if (!this.isAuthorised(req.headers.authorization)) return jsonReply(401, UNAUTHORIZED_BODY);
    if (!route) return jsonReply(404, defaultFaultBody(404));
    if (method !== route.method) {
      return jsonReply(405, defaultFaultBody(405), { allow: route.method });
    }
    const rawWasJson = raw !== '' && typeof recorded.body !== 'string';
    switch (route.endpoint) {
      case 'query':
        return this.query(recorded.body, rawWasJson);
      case 'notify':
        return this.notify(recorded.body, rawWasJson);
      case 'logs':
        return this.logs(recorded.query);
    }
  }

  private lookup(to: string): CachedResult {
    let cached = this.resultCache.get(to);
    if (!cached) {
      const result = simulateLookup(to);
      cached = { result, json: JSON.stringify(result) };
      // a crude bound, not an LRU: a benchmark repeats a small set of numbers, which refill at once
      if (this.resultCache.size >= RESULT_CACHE_LIMIT) this.resultCache.clear();
      this.resultCache.set(to, cached);
    }
    return cached;
  }

  private query(body: unknown, rawWasJson: boolean): Reply {
    const numbers = validateNumbers(body, rawWasJson);
    if (!numbers.ok) return numbers.reply;
    const bulkId = randomUUID();
    const now = Date.now();
    const results: ProviderResult[] = new Array(numbers.value.length);
    const messageIds: string[] = new Array(numbers.value.length);
    let json = `{"bulkId":"${bulkId}","results":[`;
    for (let i = 0; i < numbers.value.length; i++) {
      const to = numbers.value[i];
      const cached = this.lookup(to.length > MAX_NUMBER_LENGTH ? to.slice(0, MAX_NUMBER_LENGTH) : to);
      results[i] = cached.result;
      messageIds[i] = randomUUID();
      json += i === 0 ? cached.json : ',' + cached.json;
    }
    this.lookupLog.record(bulkId, results, messageIds, now, now);
    return { status: 200, body: json + ']}' };
  }

  private async notify(body: unknown, rawWasJson: boolean): Promise<Reply> {
    const numbers = validateNumbers(body, rawWasJson);
    if (!numbers.ok) return numbers.reply;
    const { notifyUrl, notifyContentType } = body as { notifyUrl?: unknown; notifyContentType?: unknown };
    let url: URL | undefined;
    try {
      url = typeof notifyUrl === 'string' ? new URL(notifyUrl) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return badRequest({ notifyUrl: ['must be an absolute http(s) URL'] });
    }
    if (
      notifyContentType !== undefined &&
      (typeof notifyContentType !== 'string' || !/^application\/json\b/i.test(notifyContentType.trim()))
    ) {
      // the provider also speaks XML; the simulator only JSON, and says so rather than sending the wrong type
      return badRequest({ notifyContentType: ['the simulator only supports application/json'] });
    }

    const behaviour = this.faults.takeBehaviour() ?? {};
    const bulkId = randomUUID();
    const now = Date.now();
    const ack: ProviderResult[] = [];
    const finals: ProviderResult[] = [];
    const messageIds: string[] = [];
    for (const input of numbers.value) {
      const to = input.length > MAX_NUMBER_LENGTH ? input.slice(0, MAX_NUMBER_LENGTH) : input;
      const messageId = randomUUID();
      const { result } = this.lookup(to);
      messageIds.push(messageId);
      finals.push({ ...result, messageId });
      ack.push({ to, messageId, status: { ...STATUSES.pendingWaitingDelivery } });
    }

    const perNumber =
      behaviour.perNumber === true || behaviour.outOfOrder === true || this.callbackMode === 'per-number';
    const bodies: ProviderResultsResponse[] = perNumber
      ? finals.map((r) => ({ results: [r] }))
      : [{ results: finals }];
    if (behaviour.outOfOrder) bodies.reverse();
    const plan: CallbackPlan = {
      url,
      notifyUrl: notifyUrl as string,
      bodies,
      duplicate: behaviour.duplicate === true,
      retries: Math.floor(behaviour.retryOnFailure ?? DEFAULT_CALLBACK_RETRIES),
    };
    const delayMs = behaviour.delayMs ?? (behaviour.beforeAck ? 0 : this.callbackDelayMs);
    this.lookupLog.record(bulkId, finals, messageIds, now, now + delayMs);

    if (behaviour.beforeAck) {
      await this.dispatcher.deliver(plan, delayMs);
    } else {
      void this.dispatcher.deliver(plan, delayMs);
    }
    return jsonReply(200, { bulkId, results: ack });
  }

  private logs(query: Record<string, string[]>): Reply {
    const now = Date.now();
    const windowStart = now - LOGS_WINDOW_MS;
    let expired = 0;
    while (expired < this.logsHits.length && this.logsHits[expired] <= windowStart) expired++;
    if (expired > 0) this.logsHits.splice(0, expired);
    if (this.logsHits.length >= LOGS_RATE_LIMIT) {
      const retryAfterS = Math.max(1, Math.ceil((this.logsHits[0] + LOGS_WINDOW_MS - now) / 1_000));
      return jsonReply(429, defaultFaultBody(429), { 'retry-after': String(retryAfterS) });
    }
    this.logsHits.push(now);
    const parsed = parseLogsQuery(query);
    if (!parsed.ok) return badRequest(parsed.errors);
    return jsonReply(200, { results: this.lookupLog.query(parsed.filter, now) });
  }

  private control(method: string, path: string, raw: string): Reply {
    let body: unknown;
    try {
      body = raw === '' ? {} : JSON.parse(raw);
    } catch {
      return jsonReply(400, { error: 'body must be JSON' });
    }
    const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const times = input.times === 'Infinity' || input.times === null ? Infinity : (input.times as number);
    const expect = (wanted: string): Reply | undefined =>
      method === wanted ? undefined : jsonReply(405, { error: `use ${wanted}` }, { allow: wanted });
    try {
      switch (path) {
        case '/__simulator/faults': {
          const wrongMethod = expect('POST');
          if (wrongMethod) return wrongMethod;
          this.faults.inject(checkFault(input.fault), {
            endpoint: input.endpoint as FaultEndpoint | undefined,
            times,
          });
          return jsonReply(200, { ok: true });
        }
        case '/__simulator/callbacks': {
          if (method === 'GET') return jsonReply(200, { callbacks: this.callbacks });
          const wrongMethod = expect('POST');
          if (wrongMethod) return wrongMethod;
          this.faults.callbacks(checkBehaviour(input.behaviour), { times });
          return jsonReply(200, { ok: true });
        }
        case '/__simulator/reset': {
          const wrongMethod = expect('POST');
          if (wrongMethod) return wrongMethod;
          this.reset();
          return jsonReply(200, { ok: true });
        }
        case '/__simulator/requests':
          return expect('GET') ?? jsonReply(200, { requests: this.received });
        default:
          return jsonReply(404, { error: `unknown control route ${path}` });
      }
    } catch (err) {
      return jsonReply(400, { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/**
 * Starts the provider simulator: an HTTP server speaking the provider's Number Lookup API (query, notify with
 * callbacks, logs) with deterministic results ({@link simulateLookup}), fault injection and a control API under
 * `/__simulator/`. Resolves once listening; rejects with RangeError on bad options or with the listen error
 * (e.g. `EADDRINUSE`). Always `dispose()` what it returns.
 */
export async function startProviderSimulator(options: SimulatorOptions = {}): Promise<ProviderSimulator> {
  checkDelay('latencyMs', options.latencyMs);
  checkDelay('callbackDelayMs', options.callbackDelayMs);
  checkMode(options.callbackMode);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError('port must be 0..65535');
  if (options.apiKey !== undefined && !/^\S+$/.test(options.apiKey)) {
    throw new RangeError('apiKey must be a non-empty string without spaces');
  }
  const simulator = new Simulator(options);
  await simulator.listen(options.host ?? '127.0.0.1', port);
  return simulator;
}
