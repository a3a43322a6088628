import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { within } from './deadline';
import type { Harness } from './gateway';
import { closedPort } from './ports';

/** The Redis the tests share (every test uses a key prefix of its own). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key and channel prefix no other test uses. */
export function uniquePrefix(label = 'test'): string {
  return `test:${label}:${randomUUID().slice(0, 8)}:`;
}

/** A plain Redis client for assertions (NUMSUB, EXISTS, CLIENT KILL), quit by the harness. */
export async function redisClient(harness: Harness, url = TEST_REDIS_URL): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  await redis.connect();
  harness.defer(async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  return redis;
}

/** How many connections (of every instance) are subscribed to `channel`. */
export async function numsub(redis: Redis, channel: string): Promise<number> {
  const reply = (await redis.pubsub('NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** Deletes every key under `prefix` (run after the gateways that used it stopped). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Keys under `prefix` of the shared Redis are deleted when the harness disposes (after everything else). */
export async function cleanUpPrefix(harness: Harness, prefix: string): Promise<void> {
  const redis = await redisClient(harness);
  harness.defer(() => deleteKeys(redis, prefix));
}

/**
 * A Redis server of this test's own (a `redis-server` child process on a free port), so the test can take it
 * away and bring it back without disturbing anyone. Data survives a stop (append-only file, fsync on every
 * write), as it would for a production Redis that restarts.
 */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL: connections drop as in a crash). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data; resolves when it accepts connections. */
  start(): Promise<void>;
}

export async function startPrivateRedis(harness: Harness): Promise<PrivateRedis> {
  const port = await closedPort();
  const dir = await mkdtemp(join(tmpdir(), 'nlg-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    const server = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
        ...['--appendonly', 'yes', '--appendfsync', 'always', '--loglevel', 'notice'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = server;
    let output = '';
    await within(
      new Promise<void>((resolve, reject) => {
        server.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ready to accept connections')) resolve();
        });
        server.once('error', reject);
        server.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
      }),
      10_000,
      'the private redis-server to accept connections',
    );
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };

  harness.defer(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}
