import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What a bench child sends its parent: `ready` once, then one `reply` per `call`. */
type ChildMessage =
  | { type: 'ready'; data: unknown }
  | { type: 'failed'; message: string }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; message: string };

type ParentMessage = { type: 'call'; id: number; name: string; args: unknown };

/** How long a child may take to start before it is killed and the run fails. */
const READY_TIMEOUT_MS = 60_000;
/** How long a child may take to stop after `stop` before it is killed. */
const STOP_TIMEOUT_MS = 15_000;

const live = new Set<ChildProcess>();
// Whatever happens to the orchestrator, nothing it started outlives it.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

let tasksetPath: string | null | undefined;
function taskset(): string | null {
  if (tasksetPath === undefined) {
    tasksetPath = ['/usr/bin/taskset', '/bin/taskset', '/usr/local/bin/taskset'].find(existsSync) ?? null;
  }
  return tasksetPath;
}

/** Whether processes can be pinned to cores on this machine (`taskset` found). */
export function canPin(): boolean {
  return taskset() !== null;
}

/** Pins every thread of `pid` to `core`; false when taskset is missing or refuses. */
export function pin(pid: number, core: number): boolean {
  const path = taskset();
  if (!path) return false;
  try {
    execFileSync(path, ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A forked bench process: RPC calls to its handlers, and a bounded stop. */
export interface BenchChild<TReady> {
  readonly pid: number;
  readonly ready: TReady;
  /** The core it is pinned to, or undefined when it is not pinned. */
  readonly core: number | undefined;
  call<T>(name: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop, then kills it if it has not exited within 15 s. Never rejects. */
  stop(): Promise<void>;
}

/**
 * Forks `script` (a compiled bench entry) with `config` as its only argument, pins it to `core` when given and
 * possible, and resolves once it reports ready. Rejects (after killing it) if it fails or takes over 60 s.
 */
export async function startChild<TReady>(
  script: string,
  config: unknown,
  options: { core?: number; execArgv?: string[]; name: string; env?: Record<string, string> },
): Promise<BenchChild<TReady>> {
  const child = fork(script, [JSON.stringify(config)], {
    execArgv: options.execArgv ?? [],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  const pinned = options.core !== undefined && child.pid !== undefined && pin(child.pid, options.core);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      for (const { reject } of pending.values()) reject(new Error(`${options.name} exited`));
      pending.clear();
      resolve();
    }),
  );

  const ready = await new Promise<TReady>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${options.name} did not start within 60 s`)),
      READY_TIMEOUT_MS,
    );
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.data as TReady);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${options.name} failed to start: ${message.message}`));
      } else if (message.type === 'reply') {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (!waiter) return;
        if (message.ok) waiter.resolve(message.value);
        else waiter.reject(new Error(`${options.name}: ${message.message}`));
      }
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited before it was ready`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });

  return {
    pid: child.pid as number,
    ready,
    core: pinned ? options.core : undefined,
    call<T>(name: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
      if (exited) return Promise.reject(new Error(`${options.name} has exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${options.name}: ${name} did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ type: 'call', id, name, args } satisfies ParentMessage);
      });
    },
    async stop() {
      if (exited) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        child.send({ type: 'call', id: 0, name: 'stop', args: undefined } satisfies ParentMessage);
      } catch {
        child.kill('SIGKILL');
      }
      await exit;
      clearTimeout(kill);
    },
  };
}

/** Handlers a child serves; `stop` is added by {@link serveChild}. */
export type Handlers = Record<string, (args: never) => unknown>;

/**
 * The child side: reports `ready` with what `start` resolves, then answers calls. `stop` runs `dispose` and
 * exits; so does losing the parent, so an orchestrator that dies leaves nothing running.
 */
export function serveChild<TReady>(
  start: () => Promise<{ ready: TReady; handlers: Handlers; dispose: () => Promise<void> }>,
): void {
  const send = (message: ChildMessage) => {
    if (process.connected) process.send?.(message);
  };
  let dispose: (() => Promise<void>) | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      await dispose?.();
    } finally {
      process.disconnect?.();
      process.exit(0);
    }
  };
  process.once('disconnect', () => void stop());
  start().then(
    ({ ready, handlers, dispose: d }) => {
      dispose = d;
      process.on('message', (message: ParentMessage) => {
        if (message.type !== 'call') return;
        if (message.name === 'stop') {
          void stop();
          return;
        }
        const handler = handlers[message.name] as ((args: unknown) => unknown) | undefined;
        Promise.resolve()
          .then(() => {
            if (!handler) throw new Error(`no handler ${message.name}`);
            return handler(message.args);
          })
          .then(
            (value) => send({ type: 'reply', id: message.id, ok: true, value }),
            (error: unknown) =>
              send({
                type: 'reply',
                id: message.id,
                ok: false,
                message: error instanceof Error ? error.message : String(error),
              }),
          );
      });
      send({ type: 'ready', data: ready });
    },
    (error: unknown) => {
      send({
        type: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      process.exit(1);
    },
  );
}

/** The config a child was started with (its only argument). */
export function childConfig<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}
