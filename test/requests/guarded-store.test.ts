import { GatewayErrorCode } from '../../src/errors';
import { createLogger } from '../../src/observability/logger';
import { guardStore } from '../../src/requests/guarded-store';
import { MemoryRequestStore } from '../../src/requests/memory-request-store';

describe('guardStore', () => {
  it('turns backend failures into SERVICE_UNAVAILABLE, logging an outage once when it starts and once when it ends', async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    const backend = new MemoryRequestStore();
    let down = true;
    const get = backend.get.bind(backend);
    backend.get = async (id) => {
      if (down) throw new Error('connection is closed');
      return get(id);
    };
    const store = guardStore(backend, logger);

    for (let i = 0; i < 3; i++) {
      await expect(store.get('x')).rejects.toMatchObject({
        extensions: { code: GatewayErrorCode.SERVICE_UNAVAILABLE },
      });
    }
    down = false;
    expect(await store.get('x')).toBeNull();
    expect(await store.get('x')).toBeNull();

    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, 'request store unavailable'],
      [20, 'request store still unavailable'],
      [20, 'request store still unavailable'],
      [30, 'request store available again'],
    ]);
  });
});
