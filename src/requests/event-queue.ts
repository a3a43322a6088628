/**
 * A push-driven async iterator: producers `push`/`end`, the consumer iterates. Unlike an async generator,
 * `return()` takes effect at once even while a `next()` is waiting, so a closed socket never leaves a
 * subscription parked on an event that may never come. `onClose` runs exactly once, however it ends (the
 * consumer returned or threw, or the producer ended and everything queued was read); if it throws, the
 * error propagates to whoever closed the queue.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = [];
  /** Pending `next()` calls, oldest first (a consumer may call `next()` again before a value arrives). */
  private readonly waiters: ((result: IteratorResult<T>) => void)[] = [];
  private ended = false;
  private closed = false;

  constructor(private readonly onClose: () => void) {}

  /** True once the consumer returned or the producer ended and everything was read. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues a value, or hands it to a waiting `next()`. Ignored once ended. */
  push(value: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value, done: false });
    else this.values.push(value);
  }

  /** No more values: the consumer reads what is queued, then finishes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.values.length === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended = true;
    this.values.length = 0;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
    this.onClose();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.values.length > 0) {
      const value = this.values.shift() as T;
      if (this.ended && this.values.length === 0) this.close();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) {
      this.close();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.close();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
