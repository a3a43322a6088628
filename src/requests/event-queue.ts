/**
 * A push-driven async iterator: producers `push`/`end`, the consumer iterates. Unlike an async generator,
 * `return()` takes effect at once even while a `next()` is waiting, so a closed socket never leaves a
 * subscription parked on an event that may never come. `onClose` runs exactly once, however it ends.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly values: T[] = [];
  private waiter: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private closed = false;

  constructor(private readonly onClose: () => void) {}

  /** True once the consumer returned or the producer ended and everything was read. */
  get isClosed(): boolean {
    return this.closed;
  }

  push(value: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter({ value, done: false });
    } else {
      this.values.push(value);
    }
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
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter({ value: undefined, done: true });
    }
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
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
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
