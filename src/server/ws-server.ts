import type { IncomingMessage, Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  execute,
  getOperationAST,
  GraphQLError,
  type ExecutionArgs,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { CloseCode, handleProtocols, makeServer, type SubscribePayload } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { GatewayErrorCode } from '../errors';
import type { GatewayContext } from '../graphql/context';
import type { Logger } from '../observability/logger';
import {
  outcomeOf,
  type ObservedOperation,
  type OperationObserver,
} from '../observability/operation-observer';
import { forwardedList } from './operation-guard';
import { createSharedSubscribe } from './shared-subscribe';

/** Keep-alive pings go out in this many slices per interval (fewer for intervals under 1 s). */
const KEEPALIVE_SLICES = 20;
/**
 * A socket whose unsent output grows past this is a client that stopped reading: it is cut rather than left to
 * hold the gateway's memory (its subscriptions end; a reconnect replays what it missed).
 */
const MAX_BUFFERED_BYTES = 8_388_608;

/** Options of {@link startWebSocketServer}. */
export interface WebSocketServerOptions {
  httpServer: Server;
  schema: GraphQLSchema;
  path: string;
  logger: Logger;
  /** Builds the operation context; `clientId` comes from {@link WebSocketServerOptions.authenticate}. */
  context: (clientId: string | undefined, requestId: string) => GatewayContext;
  /**
   * Checks `connectionParams`; returns the client id, `null` to refuse (close 4403), undefined when auth is off,
   * or a `RATE_LIMITED` error when the address sent too many wrong keys (close 4429).
   */
  authenticate: (
    connectionParams: Record<string, unknown> | undefined,
    request: IncomingMessage,
  ) => Promise<string | null | undefined | GraphQLError>;
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** Ping interval in ms; a peer that misses a pong by the next ping is terminated. 0 = off. */
  keepAliveMs: number;
  connectionInitWaitTimeoutMs: number;
  /**
   * Parses, validates and admits each `subscribe` message (limits, rate limit): returns the execution
   * arguments, or errors sent as an `error` message. Default: graphql-ws parses and validates on its own.
   */
  prepare?: (
    payload: SubscribePayload,
    client: { clientId?: string; request: IncomingMessage },
  ) => Promise<ExecutionArgs | readonly GraphQLError[]>;
  /** Records every operation's outcome and duration (metrics, logs). */
  observer?: OperationObserver;
  /** Largest message a client may send; a bigger one closes the socket with 1009 (default: ws's 100 MiB). */
  maxPayloadBytes?: number;
  /**
   * Operations one socket may run at once (subscriptions included); one more is answered with a `BAD_REQUEST`
   * error message, and the socket stays open. Default: no limit.
   */
  maxOperationsPerConnection?: number;
  /**
   * Browser origins allowed to open a socket (the CORS origins; `*` = any). A request without `Origin` (not a
   * browser) and a same-origin page (Sandbox served by the gateway) are always let through; any other origin is
   * refused with HTTP 403 before the upgrade. Without this check any web page could drive the gateway through a
   * visitor's browser: WebSockets are not subject to CORS, nor to Apollo's CSRF prevention. Default: any.
   */
  allowedOrigins?: readonly string[];
  /**
   * Trusted reverse proxies in front of the gateway (`TRUST_PROXY`): with any, the host a proxy saw
   * (`X-Forwarded-Host`, the entry that many hops back) counts as the gateway's own origin too, for pages the
   * gateway served through a proxy that rewrites `Host`. Default 0.
   */
  trustProxyHops?: number;
}

/** The running graphql-ws server. */
export interface GatewayWebSocketServer {
  readonly connections: () => number;
  /**
   * Graceful stop: accepts no new sockets and no new operations (those get a `SERVICE_UNAVAILABLE` error), lets
   * the queries and mutations already running finish and deliver their results, then closes every socket with
   * 1001 (subscriptions end there: clients reconnect, to another instance, and resubscribe). Sockets still busy
   * after `graceMs` (default 10 s) are closed anyway, and `cut` says so; a peer that does not answer the close
   * within `closeMs` (default 1 s) is dropped. Never rejects.
   */
  dispose(graceMs?: number, closeMs?: number): Promise<{ cut: boolean }>;
}

interface RunningOperation {
  requestId: string;
  observed?: ObservedOperation;
  outcome?: string;
  /** A query or mutation (or one not yet known to be a subscription): shutdown waits for it. */
  single: boolean;
}

type ConnectionExtra = {
  clientId?: string;
  socket: WebSocket;
  request: IncomingMessage;
  operations: Map<string, RunningOperation>;
} & Record<PropertyKey, unknown>;

/**
 * GraphQL over WebSocket (graphql-ws protocol) on the HTTP server's `path`, with the same schema as HTTP: the
 * graphql-ws protocol core (`makeServer`) on `ws` sockets, wired here rather than by graphql-ws's own `ws` helper
 * so that socket errors are logged as log lines (not stack traces on stderr), sends do not wait on the kernel,
 * keep-alive pings are spread out, and shutdown drains. A thin adapter: the context and the error formatting
 * come from the caller.
 */
export function startWebSocketServer(options: WebSocketServerOptions): GatewayWebSocketServer {
  const { logger } = options;
  const allowed = options.allowedOrigins;
  const wss = new WebSocketServer({
    server: options.httpServer,
    path: options.path,
    handleProtocols,
    ...(options.maxPayloadBytes ? { maxPayload: options.maxPayloadBytes } : {}),
    ...(allowed && !allowed.includes('*')
      ? {
          verifyClient: (
            { origin, req }: { origin?: string; req: IncomingMessage },
            done: (verified: boolean, code?: number, message?: string) => void,
          ) => {
            let verified = !origin || allowed.includes(origin);
            if (!verified) {
              try {
                verified = ownHosts(req, options.trustProxyHops ?? 0).includes(
                  new URL(origin as string).host,
                );
              } catch {
                verified = false;
              }
            }
            if (verified) done(true);
            else done(false, 403, 'Forbidden: this Origin may not open a WebSocket to the gateway');
          },
        }
      : {}),
  });

  const sharedSubscribe = createSharedSubscribe({
    scopeOf: (contextValue) => (contextValue as GatewayContext).clientId,
  });
  let draining = false;
  const open = new Map<WebSocket, ConnectionExtra>();
  const drained = new Set<WebSocket>();
  let cut = false;
  let closeTimeoutMs = 1_000;
  const closeWhenIdle = (extra: ConnectionExtra) => {
    if (!draining || drained.has(extra.socket)) return;
    for (const operation of extra.operations.values()) if (operation.single) return;
    drained.add(extra.socket);
    closeSocket(extra.socket);
  };
  // Closes with 1001 and waits for the peer's close frame only so long: a peer that vanished must not hold the
  // shutdown until its bound.
  const closeSocket = (socket: WebSocket) => {
    socket.close(1001, 'Going away');
    const terminate = setTimeout(() => socket.terminate(), closeTimeoutMs);
    terminate.unref();
    socket.once('close', () => clearTimeout(terminate));
  };
  const finish = (extra: ConnectionExtra, id: string, outcome: string | undefined) => {
    const operation = extra.operations.get(id);
    operation?.observed?.end(outcome ?? operation.outcome ?? 'ok');
    extra.operations.delete(id);
    // graphql-ws calls onComplete and onError before it sends `complete` or `error`: closing now would drop
    // that message, and a client that never saw its mutation complete runs it again after reconnecting.
    if (draining) setImmediate(() => closeWhenIdle(extra));
  };

  const server = makeServer<Record<string, unknown> | undefined, ConnectionExtra>({
    schema: options.schema,
    execute,
    // One execution per event for all subscribers of a request with the same operation (a fan-out), scoped
    // by client since results are scoped by client.
    subscribe: sharedSubscribe,
    connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs,
    onConnect: async (ctx) => {
      const clientId = await options.authenticate(ctx.connectionParams, ctx.extra.request);
      if (clientId instanceof GraphQLError) {
        // Closed before graphql-ws's own close: its 4403 then finds the socket closing and is not sent.
        ctx.extra.socket.close(CloseCode.TooManyInitialisationRequests, 'Too many wrong keys: try later');
        return false;
      }
      // graphql-ws closes with 4403 Forbidden when onConnect returns false.
      if (clientId === null) return false;
      ctx.extra.clientId = clientId;
      return true;
    },
    onSubscribe: async (ctx, id, payload) => {
      const extra = ctx.extra;
      if (draining) {
        return [
          new GraphQLError('The gateway is shutting down: reconnect and send the operation again.', {
            extensions: { code: GatewayErrorCode.SERVICE_UNAVAILABLE },
          }),
        ];
      }
      // graphql-ws forgets an id as soon as the client completes it, but a query or mutation under it runs on, and
      // its answer would go out under the next operation given that id.
      if (extra.operations.has(id)) {
        return [
          new GraphQLError(
            `Operation id "${id.slice(0, 64)}" is still running: wait for it, or use another id.`,
            {
              extensions: { code: 'BAD_REQUEST' },
            },
          ),
        ];
      }
      const max = options.maxOperationsPerConnection;
      if (max !== undefined && extra.operations.size >= max) {
        return [
          new GraphQLError(
            `At most ${max} operations may run at once on one connection (MAX_OPERATIONS_PER_CONNECTION); ` +
              'complete one, or open another connection.',
            { extensions: { code: 'BAD_REQUEST', maxOperationsPerConnection: max } },
          ),
        ];
      }
      const requestId = randomUUID();
      const observed = options.observer?.begin({
        transport: 'ws',
        requestId,
        operationName: payload.operationName,
      });
      const running: RunningOperation = { requestId, observed, single: true };
      extra.operations.set(id, running);
      const prepared = await options.prepare?.(payload, {
        clientId: extra.clientId,
        request: extra.request,
      });
      if (prepared && 'document' in prepared) {
        const operation = getOperationAST(prepared.document, prepared.operationName);
        observed?.identify(operation?.name?.value ?? prepared.operationName, operation?.operation);
        running.single = operation?.operation !== 'subscription';
        // A subscription does not hold a draining socket open.
        if (!running.single) closeWhenIdle(extra);
      } else if (prepared && !(id in ctx.subscriptions)) {
        // Refused, and completed by the client meanwhile: graphql-ws sends nothing and calls no hook.
        finish(extra, id, outcomeOf(prepared.map((e) => options.formatError(e.toJSON(), e))));
      }
      return prepared;
    },
    context: (ctx, id) =>
      options.context(ctx.extra.clientId, ctx.extra.operations.get(id)?.requestId ?? randomUUID()),
    onNext: (ctx, id, _payload, _args, result) => {
      if (!result.errors) return undefined;
      const errors = result.errors.map((e) => options.formatError(e.toJSON(), e));
      const operation = ctx.extra.operations.get(id);
      if (operation) operation.outcome ??= outcomeOf(errors);
      return { ...result, errors };
    },
    onError: (ctx, id, _payload, errors) => {
      const formatted = errors.map((e: GraphQLError) => options.formatError(e.toJSON(), e));
      finish(ctx.extra, id, outcomeOf(formatted));
      return formatted;
    },
    onComplete: (ctx, id) => finish(ctx.extra, id, undefined),
  });

  // Sockets are pinged a slice at a time, spread over the interval, not all at once: with thousands of sockets
  // one burst of pings (and of the pongs coming back) stalls every delivery for tens to hundreds of ms.
  const slices = Math.max(1, Math.min(KEEPALIVE_SLICES, Math.floor(options.keepAliveMs / 50)));
  const buckets = Array.from({ length: slices }, () => new Set<WebSocket>());
  const alive = new WeakMap<WebSocket, boolean>();
  let nextBucket = 0;

  wss.on('connection', (socket, request) => {
    if (draining) {
      socket.close(1001, 'Going away');
      return;
    }
    const extra: ConnectionExtra = { socket, request, operations: new Map() };
    open.set(socket, extra);
    // ws closes the socket itself after an error (1009 for a message over maxPayload, 1002 for a broken
    // frame): what is left to do is to say so once, as a log line.
    socket.on('error', (error: Error & { code?: string }) =>
      logger.info({ wsError: error.code ?? error.message }, 'WebSocket closed after a protocol error'),
    );
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          if (socket.readyState !== socket.OPEN) return;
          socket.send(data);
          if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
            logger.warn({ bufferedBytes: socket.bufferedAmount }, 'WebSocket client is not reading: cut off');
            socket.terminate();
          }
        },
        // A close reason may hold a client's operation id; the protocol allows 123 bytes of it.
        close: (code, reason) => socket.close(code, truncateReason(reason)),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            handle(String(data)).catch((error: unknown) => {
              logger.error({ err: error }, 'WebSocket message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      extra,
    );
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
    const bucket = buckets[nextBucket++ % slices];
    bucket.add(socket);
    socket.once('close', (code, reason) => {
      bucket.delete(socket);
      open.delete(socket);
      drained.delete(socket);
      void closed(code, String(reason));
    });
  });

  let tick = 0;
  const pinger =
    options.keepAliveMs > 0
      ? setInterval(() => {
          for (const socket of buckets[tick++ % slices]) {
            if (!alive.get(socket)) {
              socket.terminate();
              continue;
            }
            alive.set(socket, false);
            socket.ping();
          }
        }, options.keepAliveMs / slices)
      : undefined;
  pinger?.unref();

  return {
    connections: () => wss.clients.size,
    async dispose(graceMs = 10_000, closeMs = 1_000) {
      if (pinger) clearInterval(pinger);
      draining = true;
      closeTimeoutMs = closeMs;
      const closing = [...wss.clients].map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === socket.CLOSED) resolve();
            else socket.once('close', () => resolve());
          }),
      );
      for (const extra of open.values()) closeWhenIdle(extra);
      const bound = setTimeout(() => {
        for (const extra of open.values()) {
          if (drained.has(extra.socket)) continue;
          // Queries or mutations still running: their answers are lost.
          cut = true;
          drained.add(extra.socket);
          closeSocket(extra.socket);
        }
      }, graceMs);
      bound.unref();
      await Promise.all(closing);
      clearTimeout(bound);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      return { cut };
    },
  };
}

/** The hosts a page of the gateway's own would name in `Origin`: `Host`, and what a trusted proxy was asked for. */
function ownHosts(request: IncomingMessage, trustProxyHops: number): string[] {
  const hosts = request.headers.host ? [request.headers.host] : [];
  if (trustProxyHops <= 0) return hosts;
  const forwarded = forwardedList(request, 'x-forwarded-host');
  const seen = forwarded[forwarded.length - trustProxyHops] ?? forwarded[0];
  return seen ? [...hosts, seen] : hosts;
}

/** `reason` cut to what a WebSocket close frame carries (123 bytes of UTF-8). */
function truncateReason(reason: string | undefined): string | undefined {
  if (reason === undefined || Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1);
  return `${cut}…`;
}
