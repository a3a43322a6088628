import WebSocket from 'ws';
import { within } from './deadline';

/** A graphql-transport-ws message as it travels. */
export interface WsMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

/**
 * A bare `ws` socket speaking graphql-transport-ws by hand, for what a well-behaved client library never
 * does: vanish mid-subscribe (`terminate()`), or stop answering pings (`autoPong: false`).
 */
export class RawGraphqlSocket {
  readonly messages: WsMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  pings = 0;
  private readonly waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    socket.on('error', () => undefined);
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as WsMessage);
      this.notify();
    });
    socket.on('ping', () => {
      this.pings++;
      this.notify();
    });
    socket.once('close', () => this.notify());
  }

  /** Opens a socket; with `init` (default) also sends connection_init and waits for connection_ack. */
  static async open(
    url: string,
    options: { autoPong?: boolean; init?: boolean } = {},
  ): Promise<RawGraphqlSocket> {
    const socket = new WebSocket(url, 'graphql-transport-ws', { autoPong: options.autoPong ?? true });
    const raw = new RawGraphqlSocket(socket);
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      }),
      5_000,
      'the WebSocket to open',
    );
    if (options.init ?? true) {
      raw.send({ type: 'connection_init', payload: {} });
      await raw.waitFor((m) => m.type === 'connection_ack', 5_000, 'connection_ack');
    }
    return raw;
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(message: WsMessage): void {
    this.socket.send(JSON.stringify(message));
  }

  subscribe(id: string, query: string, variables: Record<string, unknown>): void {
    this.send({ id, type: 'subscribe', payload: { query, variables } });
  }

  /** Resolves with the first message matching `predicate` (already received or future). */
  async waitFor(predicate: (m: WsMessage) => boolean, ms: number, what: string): Promise<WsMessage> {
    return within(
      new Promise<WsMessage>((resolve, reject) => {
        const check = () => {
          const found = this.messages.find(predicate);
          if (found) resolve(found);
          else if (this.socket.readyState === WebSocket.CLOSED) reject(new Error(`closed before ${what}`));
          else this.waiters.push(check);
        };
        check();
      }),
      ms,
      what,
    );
  }

  /** Resolves once `count` pings arrived from the server. */
  async waitForPings(count: number, ms: number): Promise<void> {
    await within(
      new Promise<void>((resolve) => {
        const check = () => (this.pings >= count ? resolve() : this.waiters.push(check));
        check();
      }),
      ms,
      `${count} pings`,
    );
  }

  /** Drops the TCP connection without a close frame, as a phone losing its network does. */
  terminate(): void {
    this.socket.terminate();
  }
}
