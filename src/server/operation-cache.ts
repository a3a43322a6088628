import type { DocumentNode } from 'graphql';

/**
 * A value computed once per parsed document and operation name, then reused by every request for the same
 * operation: Apollo Server and the WebSocket guard cache parsed documents by query text, so one query text is one
 * document object. Held weakly by the document, so what the document caches evict goes with it.
 */
export function createOperationCache<T>(
  build: (document: DocumentNode, operationName: string | undefined) => T,
): (document: DocumentNode, operationName?: string | null) => T {
  const byDocument = new WeakMap<DocumentNode, Map<string, T>>();
  return (document, operationName) => {
    let byName = byDocument.get(document);
    if (!byName) {
      byName = new Map();
      byDocument.set(document, byName);
    }
    const key = operationName ?? '';
    if (byName.has(key)) return byName.get(key) as T;
    const value = build(document, operationName ?? undefined);
    byName.set(key, value);
    return value;
  };
}
