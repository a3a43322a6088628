import {
  createSourceEventStream,
  execute,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';

type Execution = ReturnType<typeof execute>;

/** Options of {@link createSharedSubscribe}. */
export interface SharedSubscribeOptions {
  /**
   * What, besides the event, the document, the operation name and the variables, may change an execution's
   * result: executions are shared only within one scope. Default: every operation in one scope.
   */
  scopeOf?: (contextValue: unknown) => string | undefined;
}

/**
 * graphql-js `subscribe`, except that the subscriptions that receive the same event object in the same burst
 * (one macrotask: a publish reaches every local listener synchronously) with the same document, operation name,
 * variables and scope share ONE execution of it instead of one each. A callback fanned out to a thousand
 * subscribers of one request is executed once, not a thousand times.
 *
 * Sound only because the subscription fields' results depend on nothing but the event, the operation and its
 * variables (and the scope): resolvers that read other context would need that context in `scopeOf`.
 * The shared result is read-only to its consumers (graphql-ws copies before it formats). Events that are not
 * objects are executed per subscription. Rejects and returns exactly as graphql-js `subscribe` does.
 */
export function createSharedSubscribe(options: SharedSubscribeOptions = {}) {
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;
  let burst = new Map<object, Map<string, Execution>>();
  let clearing = false;

  const executeShared = (args: ExecutionArgs, key: string, payload: unknown): Execution => {
    if (payload === null || typeof payload !== 'object') return execute({ ...args, rootValue: payload });
    let byKey = burst.get(payload);
    if (!byKey) {
      byKey = new Map();
      burst.set(payload, byKey);
      if (!clearing) {
        clearing = true;
        // Only within the burst: a stored event object may live on (the memory store keeps it), its results must not.
        setImmediate(() => {
          burst = new Map();
          clearing = false;
        });
      }
    }
    let result = byKey.get(key);
    if (!result) {
      result = execute({ ...args, rootValue: payload });
      byKey.set(key, result);
    }
    return result;
  };

  return async (
    args: ExecutionArgs,
  ): Promise<AsyncGenerator<ExecutionResult, void, void> | ExecutionResult> => {
    const stream = await createSourceEventStream(args);
    if (!isAsyncIterable(stream)) return stream;
    let documentId = documentIds.get(args.document);
    if (documentId === undefined) {
      documentId = nextDocumentId++;
      documentIds.set(args.document, documentId);
    }
    const key = JSON.stringify([
      documentId,
      args.operationName ?? null,
      args.variableValues ?? null,
      options.scopeOf?.(args.contextValue) ?? null,
    ]);
    return mapAsyncIterator(stream, (payload) => executeShared(args, key, payload));
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof Object(value)[Symbol.asyncIterator] === 'function';
}

/** graphql-js's own (internal) mapping of an async iterator: `return()` and `throw()` reach the source. */
function mapAsyncIterator<T, U>(
  iterable: AsyncIterable<T>,
  map: (value: T) => U | Promise<U>,
): AsyncGenerator<U, void, void> {
  const iterator = iterable[Symbol.asyncIterator]();
  const mapResult = async (result: IteratorResult<T>): Promise<IteratorResult<U, void>> => {
    if (result.done) return { value: undefined, done: true };
    try {
      return { value: await map(result.value), done: false };
    } catch (error) {
      await iterator.return?.().catch(() => undefined);
      throw error;
    }
  };
  const mapped: AsyncGenerator<U, void, void> = {
    next: async () => mapResult(await iterator.next()),
    return: async () =>
      iterator.return ? mapResult(await iterator.return()) : { value: undefined, done: true },
    throw: async (error?: unknown) => {
      if (iterator.throw) return mapResult(await iterator.throw(error));
      throw error;
    },
    [Symbol.asyncIterator]: () => mapped,
  };
  return mapped;
}
