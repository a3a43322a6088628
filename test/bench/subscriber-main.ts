import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { childConfig, serveChild } from './children';
import { nowMs } from './stats';

/** One `lookupCompleted` event as a subscriber saw it: request, number, and the wall-clock ms its message arrived. */
export type Arrival = [requestId: string, to: string, atMs: number];

/** Counters of a subscriber process. */
export interface SubscriberCounts {
  connected: number;
  /** Sockets that closed while the bench still wanted them. */
  closed: number;
  subscribed: number;
  completed: number;
  errors: number;
  firstError?: string;
}

/**
 * A client process holding many graphql-ws clients (one WebSocket each, as separate mobile clients would), so
 * the gateway's memory and file descriptors are its own and the client side has its own descriptor limit.
 */
/** When the latest WebSocket message arrived; graphql-ws handles a message synchronously right after. */
let receivedAt = 0;

/**
 * The client's WebSocket, stamping each message as it arrives. Up to a thousand clients share one core here,
 * and delivery is timed to the socket, not to after the graphql-ws client of every earlier message has parsed
 * it: each real subscriber has a device of its own.
 */
class TimedWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    // Registered before graphql-ws sets `onmessage`, so it runs first.
    this.on('message', () => {
      receivedAt = nowMs();
    });
  }
}

serveChild(async () => {
  childConfig<Record<string, never>>();
  const clients: Client[] = [];
  const counts: SubscriberCounts = { connected: 0, closed: 0, subscribed: 0, completed: 0, errors: 0 };
  let arrivals: Arrival[] = [];
  let closing = false;

  const connectOne = (url: string) =>
    new Promise<void>((resolve, reject) => {
      const client = createClient({
        url,
        webSocketImpl: TimedWebSocket,
        lazy: false,
        retryAttempts: 0,
        // Idle means idle: the server's own pings keep the socket alive (ws answers them with pongs).
        keepAlive: 0,
        onNonLazyError: (error) => reject(error instanceof Error ? error : new Error(String(error))),
      });
      clients.push(client);
      client.on('connected', () => {
        counts.connected++;
        resolve();
      });
      client.on('closed', () => {
        if (!closing) counts.closed++;
      });
    });

  return {
    ready: {},
    dispose: async () => {
      closing = true;
      await Promise.all(clients.map((c) => c.dispose()));
    },
    handlers: {
      /** Opens `count` clients, `concurrency` handshakes at a time; resolves when all are acknowledged. */
      connect: async (args: { url: string; count: number; concurrency: number }) => {
        let next = 0;
        const worker = async () => {
          while (next < args.count) {
            next++;
            await connectOne(args.url);
          }
        };
        await Promise.all(Array.from({ length: Math.min(args.concurrency, args.count) }, worker));
        return counts.connected;
      },
      /**
       * Subscribes client i to `requestIds[i]` (or every client to `requestIds[0]` when only one is given),
       * starting at client `offset`, for `count` clients.
       */
      subscribe: (args: { query: string; requestIds: string[]; offset?: number; count?: number }) => {
        const offset = args.offset ?? 0;
        const count = args.count ?? clients.length - offset;
        for (let i = 0; i < count; i++) {
          const requestId = args.requestIds.length === 1 ? args.requestIds[0] : args.requestIds[i];
          counts.subscribed++;
          clients[offset + i].subscribe<{ lookupCompleted: { to: string } }>(
            { query: args.query, variables: { requestId } },
            {
              next: (value) => {
                const at = receivedAt;
                if (value.data) arrivals.push([requestId, value.data.lookupCompleted.to, at]);
                else {
                  counts.errors++;
                  counts.firstError ??= JSON.stringify(value.errors);
                }
              },
              error: (error) => {
                counts.errors++;
                counts.firstError ??= error instanceof Error ? error.message : JSON.stringify(error);
              },
              complete: () => counts.completed++,
            },
          );
        }
        return counts.subscribed;
      },
      /** Hands over the arrivals seen since the last call, and the counters. */
      drain: () => {
        const out = arrivals;
        arrivals = [];
        return { arrivals: out, counts };
      },
      counts: () => ({ ...counts, arrivals: arrivals.length }),
      usage: () => process.memoryUsage().rss,
    },
  };
});
