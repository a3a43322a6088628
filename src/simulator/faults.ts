import type { CallbackBehaviour, Fault, FaultEndpoint, SimulatorFaults } from './types';

const FAULT_KINDS: ReadonlySet<string> = new Set([
  'status',
  'latency',
  'stall-after-headers',
  'truncated',
  'non-json',
  'drop',
]);
const ENDPOINTS: ReadonlySet<string> = new Set(['query', 'notify', 'logs', 'any']);

interface Queued<T> {
  value: T;
  endpoint: FaultEndpoint;
  remaining: number;
}

function checkTimes(times: unknown): number {
  if (times === undefined) return 1;
  if (times === Infinity) return Infinity;
  if (typeof times !== 'number' || !Number.isInteger(times) || times < 1) {
    throw new RangeError('times must be a positive integer or Infinity');
  }
  return times;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws TypeError/RangeError unless `fault` is a well-formed {@link Fault}; returns it typed. */
export function checkFault(fault: unknown): Fault {
  if (!isRecord(fault) || typeof fault.kind !== 'string' || !FAULT_KINDS.has(fault.kind)) {
    throw new TypeError(`fault.kind must be one of ${[...FAULT_KINDS].join(', ')}`);
  }
  if (fault.kind === 'status') {
    if (typeof fault.status !== 'number' || !Number.isInteger(fault.status)) {
      throw new TypeError('fault.status must be an integer');
    }
    if (fault.status < 100 || fault.status > 599) throw new RangeError('fault.status must be 100..599');
    if (fault.body !== undefined && typeof fault.body !== 'string' && !isRecord(fault.body)) {
      throw new TypeError('fault.body must be a string or a provider error object');
    }
    if (fault.retryAfter !== undefined && typeof fault.retryAfter !== 'string') {
      throw new TypeError('fault.retryAfter must be a string');
    }
  }
  if (fault.kind === 'latency' && (typeof fault.ms !== 'number' || !(fault.ms >= 0) || !isFinite(fault.ms))) {
    throw new RangeError('fault.ms must be a non-negative number');
  }
  return fault as Fault;
}

/** Throws TypeError/RangeError unless `behaviour` is a well-formed {@link CallbackBehaviour}. */
export function checkBehaviour(behaviour: unknown): CallbackBehaviour {
  if (!isRecord(behaviour)) throw new TypeError('behaviour must be an object');
  for (const flag of ['perNumber', 'duplicate', 'outOfOrder', 'beforeAck']) {
    if (behaviour[flag] !== undefined && typeof behaviour[flag] !== 'boolean') {
      throw new TypeError(`behaviour.${flag} must be a boolean`);
    }
  }
  for (const count of ['delayMs', 'retryOnFailure']) {
    const v = behaviour[count];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0) || !isFinite(v))) {
      throw new RangeError(`behaviour.${count} must be a non-negative number`);
    }
  }
  return behaviour as CallbackBehaviour;
}

/**
 * The FIFO queues behind {@link SimulatorFaults}. A request takes the first queued fault whose endpoint matches
 * (its own or `'any'`); each take spends one of that entry's `times`.
 */
export class FaultQueue implements SimulatorFaults {
  private faultQueue: Queued<Fault>[] = [];
  private behaviourQueue: Queued<CallbackBehaviour>[] = [];

  inject(fault: Fault, opts: { endpoint?: FaultEndpoint; times?: number } = {}): void {
    const endpoint = opts.endpoint ?? 'any';
    if (!ENDPOINTS.has(endpoint)) throw new TypeError(`endpoint must be one of ${[...ENDPOINTS].join(', ')}`);
    this.faultQueue.push({ value: checkFault(fault), endpoint, remaining: checkTimes(opts.times) });
  }

  callbacks(behaviour: CallbackBehaviour, opts: { times?: number } = {}): void {
    this.behaviourQueue.push({
      value: checkBehaviour(behaviour),
      endpoint: 'notify',
      remaining: checkTimes(opts.times),
    });
  }

  clear(): void {
    this.faultQueue = [];
    this.behaviourQueue = [];
  }

  /** Spends and returns the fault for one request to `endpoint` (`undefined`: an unknown path), if any. */
  takeFault(endpoint: Exclude<FaultEndpoint, 'any'> | undefined): Fault | undefined {
    if (this.faultQueue.length === 0) return undefined;
    return take(this.faultQueue, (e) => e === 'any' || e === endpoint);
  }

  /** Spends and returns the callback behaviour for one accepted notify request, if any. */
  takeBehaviour(): CallbackBehaviour | undefined {
    if (this.behaviourQueue.length === 0) return undefined;
    return take(this.behaviourQueue, () => true);
  }
}

function take<T>(queue: Queued<T>[], matches: (endpoint: FaultEndpoint) => boolean): T | undefined {
  for (let i = 0; i < queue.length; i++) {
    const entry = queue[i];
    if (!matches(entry.endpoint)) continue;
    entry.remaining -= 1;
    if (entry.remaining <= 0) queue.splice(i, 1);
    return entry.value;
  }
  return undefined;
}
