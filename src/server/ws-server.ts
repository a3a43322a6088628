import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { GatewayContext } from '../graphql/context';
import type { Logger } from '../observability/logger';

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
}

/** The running graphql-ws server: `dispose()` closes every socket with 1001 and stops accepting. */
export interface GatewayWebSocketServer {
  readonly connections: () => number;
  dispose(): Promise<void>;
}

type ConnectionExtra = { clientId?: string } & Record<PropertyKey, unknown>;

/**
 * GraphQL over WebSocket (graphql-ws protocol) on the HTTP server's `path`, with the same schema as HTTP.
 * A thin adapter: the context and the error formatting come from the caller.
 */
export function startWebSocketServer(options: WebSocketServerOptions): GatewayWebSocketServer {
  const wss = new WebSocketServer({ server: options.httpServer, path: options.path });
  const alive = new WeakMap<object, boolean>();

  const server = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      schema: options.schema,
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs,
      onConnect: (ctx) => {
        const clientId = options.authenticate(ctx.connectionParams);
        // graphql-ws closes with 4403 Forbidden when onConnect returns false.
        if (clientId === null) return false;
        (ctx.extra as ConnectionExtra).clientId = clientId;
        return true;
      },
      context: (ctx) => options.context((ctx.extra as ConnectionExtra).clientId, randomUUID()),
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors) return undefined;
        return {
          ...result,
          errors: result.errors.map((e) => options.formatError(e.toJSON(), e)),
        };
      },
      onError: (_ctx, _id, _payload, errors) =>
        errors.map((e: GraphQLError) => options.formatError(e.toJSON(), e)),
    },
    wss,
    // graphql-ws's own keep-alive pings; our terminate-on-missed-pong below detects dead peers.
    0,
  );

  wss.on('connection', (socket) => {
    alive.set(socket, true);
    socket.on('pong', () => alive.set(socket, true));
  });

  const pinger =
    options.keepAliveMs > 0
      ? setInterval(() => {
          for (const socket of wss.clients) {
            if (!alive.get(socket)) {
              socket.terminate();
              continue;
            }
            alive.set(socket, false);
            socket.ping();
          }
        }, options.keepAliveMs)
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
