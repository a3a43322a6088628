import type { IncomingMessage, Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  execute,
  getOperationAST,
  type ExecutionArgs,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import type { GraphQLError } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
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
   * Browser origins allowed to open a socket (the CORS origins; `*` = any). A request without `Origin` (not a
   * browser) and a same-origin page (Sandbox served by the gateway) are always let through. Without this
   * check any web page could drive the gateway through a visitor's browser: WebSockets are not subject to
   * CORS, nor to Apollo's CSRF prevention. Default: any.
   */
  allowedOrigins?: readonly string[];
}

/** The running graphql-ws server: `dispose()` closes every socket with 1001 and stops accepting. */
export interface GatewayWebSocketServer {
  readonly connections: () => number;
  dispose(): Promise<void>;
}

type ConnectionExtra = {
  clientId?: string;
  request: IncomingMessage;
  operations?: Map<string, { requestId: string; observed?: ObservedOperation; outcome?: string }>;
} & Record<PropertyKey, unknown>;

/**
 * GraphQL over WebSocket (graphql-ws protocol) on the HTTP server's `path`, with the same schema as HTTP.
 * A thin adapter: the context and the error formatting come from the caller.
 */
export function startWebSocketServer(options: WebSocketServerOptions): GatewayWebSocketServer {
  const allowed = options.allowedOrigins;
  const wss = new WebSocketServer({
    server: options.httpServer,
    path: options.path,
    ...(options.maxPayloadBytes ? { maxPayload: options.maxPayloadBytes } : {}),
    ...(allowed && !allowed.includes('*')
      ? {
          verifyClient: ({ origin, req }: { origin?: string; req: { headers: { host?: string } } }) => {
            if (!origin) return true;
            if (allowed.includes(origin)) return true;
            try {
              return new URL(origin).host === req.headers.host;
            } catch {
              return false;
            }
          },
        }
      : {}),
  });

  const alive = new WeakMap<object, boolean>();
  const sharedSubscribe = createSharedSubscribe({
    scopeOf: (contextValue) => (contextValue as GatewayContext).clientId,
  });

  const server = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      schema: options.schema,
      // Close reasons never carry an internal error's message, whatever NODE_ENV says.
      isProd: true,
      execute,
      // One execution per event for all subscribers of a request with the same operation (a fan-out), scoped
      // by client since results are scoped by client.
      subscribe: sharedSubscribe,
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs,
      onConnect: (ctx) => {
        const clientId = options.authenticate(ctx.connectionParams);
        // graphql-ws closes with 4403 Forbidden when onConnect returns false.
        if (clientId === null) return false;
        (ctx.extra as ConnectionExtra).clientId = clientId;
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        const extra = ctx.extra as ConnectionExtra;
        const requestId = randomUUID();
        const observed = options.observer?.begin({
          transport: 'ws',
          requestId,
          operationName: payload.operationName,
        });
        (extra.operations ??= new Map()).set(id, { requestId, observed });
        const prepared = await options.prepare?.(payload, {
          clientId: extra.clientId,
          request: extra.request,
        });
        if (prepared && 'document' in prepared) {
          const operation = getOperationAST(prepared.document, prepared.operationName);
          observed?.identify(operation?.name?.value ?? prepared.operationName, operation?.operation);
        }
        return prepared;
      },
      context: (ctx, id) => {
        const extra = ctx.extra as ConnectionExtra;
        return options.context(extra.clientId, extra.operations?.get(id)?.requestId ?? randomUUID());
      },
      onNext: (ctx, id, _payload, _args, result) => {
        if (!result.errors) return undefined;
        const errors = result.errors.map((e) => options.formatError(e.toJSON(), e));
        const operation = (ctx.extra as ConnectionExtra).operations?.get(id);
        if (operation) operation.outcome ??= outcomeOf(errors);
        return { ...result, errors };
      },
      onError: (ctx, id, _payload, errors) => {
        const formatted = errors.map((e: GraphQLError) => options.formatError(e.toJSON(), e));
        const operations = (ctx.extra as ConnectionExtra).operations;
        operations?.get(id)?.observed?.end(outcomeOf(formatted));
        operations?.delete(id);
        return formatted;
      },
      onComplete: (ctx, id) => {
        const operations = (ctx.extra as ConnectionExtra).operations;
        const operation = operations?.get(id);
        operation?.observed?.end(operation.outcome ?? 'ok');
        operations?.delete(id);
      },
    },
    wss,
    // graphql-ws's own keep-alive pings; our terminate-on-missed-pong below detects dead peers.
    0,
  );

  // Sockets are pinged a slice at a time, spread over the interval, not all at once: with thousands of sockets
  // one burst of pings (and of the pongs coming back) stalls every delivery for tens to hundreds of ms.
  const slices = Math.max(1, Math.min(KEEPALIVE_SLICES, Math.floor(options.keepAliveMs / 50)));
  const buckets = Array.from({ length: slices }, () => new Set<WebSocket>());
  let nextBucket = 0;
  wss.on('connection', (socket) => {
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
    const bucket = buckets[nextBucket++ % slices];
    bucket.add(socket);
    socket.once('close', () => bucket.delete(socket));
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
    async dispose() {
      if (pinger) clearInterval(pinger);
      for (const socket of wss.clients) socket.close(1001, 'Going away');
      await server.dispose();
    },
  };
}
