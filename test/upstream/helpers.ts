export { closedPort } from '../helpers/ports';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { UpstreamError } from '../../src/errors';
import type { Logger } from '../../src/observability/logger';

/** A pino logger at `trace` whose every JSON line lands in `lines` (synchronously). */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), lines };
}

/** Awaits `promise`, expecting it to reject with an {@link UpstreamError}, and returns that error. */
export async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UpstreamError);
    return error as UpstreamError;
  }
  throw new Error(`expected an UpstreamError, got a result: ${JSON.stringify(outcome)}`);
}

/** Everything an error could show or log: message, extensions, JSON form and stack. */
export function serialise(error: UpstreamError): string {
  return JSON.stringify({
    message: error.message,
    extensions: error.extensions,
    upstream: error.upstream,
    json: error.toJSON(),
    stack: error.stack,
  });
}

/** A bare HTTP server for shapes the simulator does not produce; records request URLs and connections. */
export interface RawServer {
  url: string;
  urls: string[];
  sockets: Socket[];
  server: http.Server;
  close(): Promise<void>;
}

export async function startRawServer(handler: http.RequestListener): Promise<RawServer> {
  const urls: string[] = [];
  const sockets: Socket[] = [];
  // keepAliveTimeout 0: no server-side idle timer and no `Keep-Alive: timeout=` hint, so tests decide when (and
  // whether) an idle connection is closed, as an unannounced load-balancer idle timeout would.
  const server = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    handler(req, res);
  });
  server.keepAliveTimeout = 0;
  server.on('connection', (socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    urls,
    sockets,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers 200 with `body` as JSON. */
export function sendJson(res: http.ServerResponse, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
