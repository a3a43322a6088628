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
  /** Checks `connectionParams`; returns the client id, `null` to refuse (close 4403), undefined when auth is off. */
  authenticate: (connectionParams: Record<string, unknown> | undefined) => string | null | undefined;
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
}

/** The running graphql-ws server. */
export interface GatewayWebSocketServer {
  readonly connections: () => number;
  /**
   * Graceful stop: accepts no new sockets and no new operations (those get a `SERVICE_UNAVAILABLE` error), lets
   * the queries and mutations already running finish and deliver their results, then closes every socket with
   * 1001 (subscriptions end there: clients reconnect, to another instance, and resubscribe). Sockets still busy
   * after `graceMs` are closed anyway. Never rejects.
   */
  dispose(graceMs?: number): Promise<void>;
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
                verified = new URL(origin as string).host === req.headers.host;
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
  const closeWhenIdle = (extra: ConnectionExtra) => {
    if (!draining || drained.has(extra.socket)) return;
    for (const operation of extra.operations.values()) if (operation.single) return;
    drained.add(extra.socket);
    extra.socket.close(1001, 'Going away');
  };
  const finish = (extra: ConnectionExtra, id: string, outcome: string | undefined) => {
    const operation = extra.operations.get(id);
    operation?.observed?.end(outcome ?? operation.outcome ?? 'ok');
    extra.operations.delete(id);
    closeWhenIdle(extra);
  };

  const server = makeServer<Record<string, unknown> | undefined, ConnectionExtra>({
    schema: options.schema,
    execute,
    // One execution per event for all subscribers of a request with the same operation (a fan-out), scoped
    // by client since results are scoped by client.
    subscribe: sharedSubscribe,
    connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs,
    onConnect: (ctx) => {
      const clientId = options.authenticate(ctx.connectionParams);
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
        close: (code, reason) => socket.close(code, reason),
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
    async dispose(graceMs = 10_000) {
      if (pinger) clearInterval(pinger);
      draining = true;
      const closing = [...wss.clients].map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === socket.CLOSED) resolve();
            else socket.once('close', () => resolve());
          }),
      );
      for (const extra of open.values()) closeWhenIdle(extra);
      const cut = setTimeout(() => {
        for (const socket of wss.clients) socket.terminate();
      }, graceMs);
      cut.unref();
      await Promise.all(closing);
      clearTimeout(cut);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
