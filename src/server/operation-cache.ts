import { getOperationAST, type DocumentNode, type OperationDefinitionNode } from 'graphql';

/**
 * A value computed once per operation of a parsed document, then reused by every request for it: Apollo Server
 * and the WebSocket guard cache parsed documents by query text, so one query text is one document object. Kept
 * per operation node, which the document holds, so what the document caches evict goes with it; an operation
 * name that picks no operation (a client may send any) is computed each time and kept nowhere.
 */
export function createOperationCache<T>(
  build: (document: DocumentNode, operationName: string | undefined) => T,
): (document: DocumentNode, operationName?: string | null) => T {
  const byOperation = new WeakMap<OperationDefinitionNode, T>();
  return (document, operationName) => {
    const operation = getOperationAST(document, operationName);
    if (!operation) return build(document, operationName ?? undefined);
    if (byOperation.has(operation)) return byOperation.get(operation) as T;
    const value = build(document, operationName ?? undefined);
    byOperation.set(operation, value);
    return value;
  };
}
