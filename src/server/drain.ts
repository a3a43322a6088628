import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** The HTTP side of a graceful stop, from {@link createHttpDrain}. */
export interface HttpDrain {
  /**
   * Stops accepting connections, closes idle keep-alive connections at once and busy ones as soon as their
   * requests are answered, and resolves when the server has closed: once every connection is gone, the
   * WebSockets included (those are the WebSocket server's to close). After `graceMs` the remaining HTTP
   * connections are destroyed, and `cut` says whether a request was still running on one. Never rejects.
   */
  stop(graceMs: number): Promise<{ cut: boolean }>;
}

/**
 * Tracks the server's connections and their requests in flight from now on, for {@link HttpDrain.stop}. The same
 * as Apollo Server's drainHttpServer plugin with one difference: a connection that was upgraded to a WebSocket is
 * no longer an idle HTTP connection to close, since its WebSocket may still be delivering the result of a
 * mutation; the WebSocket server drains it.
 */
export function createHttpDrain(server: Server): HttpDrain {
  const inFlight = new Map<Socket, number>();
  let stopping = false;
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  server.on('upgrade', (request: { socket: Socket }) => inFlight.delete(request.socket));
  server.on(
    'request',
    (request: { socket: Socket }, response: { once(e: 'finish', f: () => void): void }) => {
      const { socket } = request;
      inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
      response.once('finish', () => {
        const left = (inFlight.get(socket) ?? 1) - 1;
        if (!inFlight.has(socket)) return;
        inFlight.set(socket, left);
        if (stopping && left === 0) socket.end();
      });
    },
  );

  return {
    async stop(graceMs) {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const [socket, requests] of inFlight) if (requests === 0) socket.end();
      let cut = false;
      const bound = setTimeout(() => {
        for (const [socket, requests] of inFlight) {
          if (requests > 0) cut = true;
          socket.destroy();
        }
      }, graceMs);
      bound.unref();
      await closed;
      clearTimeout(bound);
      return { cut };
    },
  };
}
