import WebSocket from 'ws';
import { within } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';

describe('startWebSocketServer keep-alive', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('spreads its pings over the interval instead of pinging every socket at once', async () => {
    const gateway = await harness.gateway({ WS_KEEPALIVE_MS: '1000' });
    const count = 20;
    const firstPingAt: Promise<number>[] = [];
    for (let i = 0; i < count; i++) {
      const socket = new WebSocket(gateway.app.wsUrl, 'graphql-transport-ws');
      harness.defer(async () => socket.terminate());
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ type: 'connection_init' }));
      firstPingAt.push(new Promise((resolve) => socket.once('ping', () => resolve(performance.now()))));
    }
    const times = await within(Promise.all(firstPingAt), 5_000, 'a ping on every socket');
    // All at once, the first pings would land within a few ms of each other; spread, they span most of a second.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(500);
  });
});
