import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A finished HTTP exchange as the tests see it. */
export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

/** Options of {@link send}. */
export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as-is. */
  body?: unknown;
  apiKey?: string;
}

/**
 * One HTTP exchange without connection reuse (`agent: false`), so nothing is left open between tests.
 * `apiKey` becomes `Authorization: App <key>`. Rejects on socket errors (drops, resets).
 */
export function send(baseUrl: string, path: string, options: SendOptions = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const payload =
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body);
    const headers: Record<string, string> = { ...options.headers };
    if (options.apiKey !== undefined) headers.authorization = `App ${options.apiKey}`;
    if (payload !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const req = http.request(new URL(path, baseUrl), {
      method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
      headers,
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: <T>() => JSON.parse(text) as T,
        });
      });
    });
    req.end(payload);
  });
}

/** What the notifyUrl receiver got. */
export interface ReceivedCallback {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: { results: Array<Record<string, unknown>> };
  at: number;
}

/** A local notifyUrl endpoint on port 0. */
export interface CallbackReceiver {
  url: string;
  received: ReceivedCallback[];
  /** Status to answer the n-th (0-based) POST with; default 200. */
  statusFor: (n: number) => number;
  /** Resolves once `count` POSTs have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedCallback[]>;
  close(): Promise<void>;
}

/** Starts a tiny HTTP server that records every POST (JSON) it gets. */
export async function startReceiver(): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  const receiver: CallbackReceiver = {
    url: '',
    received,
    statusFor: () => 200,
    waitFor(count, timeoutMs = 5_000) {
      if (received.length >= count) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(new Error(`receiver got ${received.length} of ${count} callbacks within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(received);
          },
        };
        waiters.push(waiter);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = received.length;
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedCallback['body'],
        at: Date.now(),
      });
      res.writeHead(receiver.statusFor(n), { 'content-type': 'application/json' });
      res.end('{}');
      const ready = waiters.filter((w) => received.length >= w.count);
      waiters = waiters.filter((w) => received.length < w.count);
      for (const w of ready) w.resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}
