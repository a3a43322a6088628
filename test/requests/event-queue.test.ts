import { EventQueue } from '../../src/requests/event-queue';

describe('EventQueue', () => {
  it('hands pushed values to the consumer in order, then finishes after end()', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    queue.push(1);
    const waiting = [queue.next(), queue.next()];
    queue.push(2);
    queue.end();
    expect(await waiting[0]).toEqual({ value: 1, done: false });
    expect(await waiting[1]).toEqual({ value: 2, done: false });
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('serves several next() calls waiting at once, oldest first', async () => {
    const queue = new EventQueue<string>(() => undefined);
    const first = queue.next();
    const second = queue.next();
    queue.push('a');
    queue.push('b');
    expect(await first).toEqual({ value: 'a', done: false });
    expect(await second).toEqual({ value: 'b', done: false });
  });

  it('ends a waiting next() at once when the consumer returns, and closes exactly once', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    const waiting = queue.next();
    await queue.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    await queue.return();
    queue.end();
    queue.push(3);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(queue.isClosed).toBe(true);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('lets the consumer read what was queued before the producer ended', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    queue.push(1);
    queue.push(2);
    queue.end();
    expect(queue.isClosed).toBe(false);
    const seen: number[] = [];
    for await (const value of queue) seen.push(value);
    expect(seen).toEqual([1, 2]);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('closes when the consumer throws into it', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    await expect(queue.throw(new Error('consumer failed'))).rejects.toThrow('consumer failed');
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('fails after what was queued: the consumer reads the values, then gets the error once', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    queue.push(1);
    const failure = new Error('gone');
    queue.fail(failure);
    queue.push(2);
    queue.end();
    expect(await queue.next()).toEqual({ value: 1, done: false });
    await expect(queue.next()).rejects.toBe(failure);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('rejects a waiting next() at once when it fails, and ends the others', async () => {
    const onClose = jest.fn();
    const queue = new EventQueue<number>(onClose);
    const first = queue.next();
    const second = queue.next();
    const failure = new Error('gone');
    queue.fail(failure);
    await expect(first).rejects.toBe(failure);
    expect(await second).toEqual({ value: undefined, done: true });
    expect(queue.isClosed).toBe(true);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('drops the failure when the consumer returns first', async () => {
    const queue = new EventQueue<number>(() => undefined);
    queue.push(1);
    queue.fail(new Error('gone'));
    await queue.return();
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });
});
