/**
 * A push-driven async iterator: producers `push` and then `end` or `fail`, the consumer iterates. Unlike an
 * async generator, `return()` takes effect at once even while a `next()` is waiting, so a closed socket never
 * leaves a subscription parked on an event that may never come. `onClose` runs exactly once, however it ends
 * (the consumer returned or threw, or the producer ended or failed and everything queued was read); if it
 * throws, the error propagates to whoever closed the queue.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = [];
  /** Pending `next()` calls, oldest first (a consumer may call `next()` again before a value arrives). */
  private readonly waiters: {
    resolve: (result: IteratorResult<T>) => void;
    reject: (error: unknown) => void;
  }[] = [];
  private ended = false;
  private closed = false;
  /** Set by `fail`: handed to the consumer after the queued values, exactly once, unless it returns first. */
  private failure: { error: unknown } | undefined;

  constructor(private readonly onClose: () => void) {}

  /** True once the consumer returned or the producer ended and everything was read. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues a value, or hands it to a waiting `next()`. Ignored once ended. */
  push(value: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value, done: false });
    else this.values.push(value);
  }

  /** No more values: the consumer reads what is queued, then finishes. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.values.length === 0) this.close();
  }

  /**
   * No more values, and the stream ends in `error`: the consumer reads what is queued, then its next `next()`
   * rejects with `error` (a waiting one at once). Ignored once ended. Resources go (`onClose`) as with `end`.
   */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.ended = true;
    if (this.values.length === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ended = true;
    this.values.length = 0;
    for (const waiter of this.waiters.splice(0)) {
      const failure = this.failure;
      this.failure = undefined;
      if (failure) waiter.reject(failure.error);
      else waiter.resolve({ value: undefined, done: true });
    }
    this.onClose();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.values.length > 0) {
      const value = this.values.shift() as T;
      if (this.ended && this.values.length === 0) this.close();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      this.close();
      return Promise.reject(error);
    }
    if (this.ended) {
      this.close();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.failure = undefined;
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.failure = undefined;
    this.close();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
