import type { IncomingMessage } from 'node:http';
import {
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { LRUCache } from 'lru-cache';
import { checkNumberCap } from './operation-limits';
import { rateLimitKey, type OperationRateLimiter } from './rate-limit';

/** Distinct valid documents kept parsed (see {@link createWebSocketOperationGuard}). */
const DOCUMENT_CACHE_ENTRIES = 1_000;
/** Bound on the summed length of the cached documents' query texts. */
const DOCUMENT_CACHE_QUERY_CHARS = 5_000_000;

/** Options of {@link createWebSocketOperationGuard}. */
export interface OperationGuardOptions {
  schema: GraphQLSchema;
  /** Rules on top of GraphQL's own (depth limit; no introspection when it is off). */
  validationRules: readonly ValidationRule[];
  /** Most lexical tokens in one document (`MAX_QUERY_TOKENS`), as Apollo Server's parser is told over HTTP. */
  maxQueryTokens?: number;
  /** Cap on phone numbers per operation, across aliases (`MAX_NUMBERS_PER_OPERATION`). */
  maxNumbersPerOperation: number;
  rateLimiter: OperationRateLimiter;
  /** Trusted reverse proxies in front of the gateway (`TRUST_PROXY`): how far to look into `X-Forwarded-For`. */
  trustProxyHops: number;
}

/** Who sent a WebSocket operation. */
export interface WebSocketClient {
  clientId?: string;
  /** The upgrade request of the socket. */
  request: IncomingMessage;
}

/**
 * The client's address as express computes it with `trust proxy` set to `trustProxyHops`: the socket's peer,
 * or the entry of `X-Forwarded-For` that many hops back. With 0 the header is ignored (it is client-written).
 */
export function clientAddress(request: IncomingMessage, trustProxyHops: number): string | undefined {
  const peer = request.socket.remoteAddress;
  if (trustProxyHops <= 0) return peer;
  const chain = [...forwardedList(request, 'x-forwarded-for'), peer ?? 'unknown'];
  return chain[Math.max(0, chain.length - 1 - trustProxyHops)];
}

/** The comma-separated entries of an `X-Forwarded-*` header, in order, over all its copies. */
export function forwardedList(
  request: IncomingMessage,
  name: 'x-forwarded-for' | 'x-forwarded-host',
): string[] {
  const header = request.headers[name];
  return (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const withCode = (error: GraphQLError, code: string) =>
  new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code },
  });

/**
 * The WebSocket path's admission of each `subscribe` message, the same limits the HTTP path applies: the
 * client's rate limit first (cheapest), then parsing and validation with the extra rules (once per distinct query
 * text: valid documents are cached and shared), and the numbers cap.
 * Resolves to the execution arguments, or to the errors to send (the socket stays open). A parse failure is
 * answered as `GRAPHQL_PARSE_FAILED` instead of closing the socket. Never rejects.
 */
export function createWebSocketOperationGuard(options: OperationGuardOptions) {
  const rules = [...specifiedRules, ...options.validationRules];
  // Valid documents by query text, shared by every subscription that sends the same text: a subscription holds
  // its document for its whole life, and a parsed document with its tokens weighs ~30 kB (graphql-js never
  // mutates one). Bounded by total query length, so unique documents from a client only churn it.
  const documents = new LRUCache<string, DocumentNode>({
    max: DOCUMENT_CACHE_ENTRIES,
    maxSize: DOCUMENT_CACHE_QUERY_CHARS,
    sizeCalculation: (_document, query) => Math.max(1, query.length),
  });
  return async (
    payload: SubscribePayload,
    client: WebSocketClient,
  ): Promise<ExecutionArgs | readonly GraphQLError[]> => {
    const address = clientAddress(client.request, options.trustProxyHops);
    const limited = await options.rateLimiter.admit(rateLimitKey(client.clientId, address));
    if (limited) return [limited];
    if (typeof payload.query !== 'string') {
      return [
        new GraphQLError('The subscribe payload needs a "query" string.', {
          extensions: { code: 'BAD_REQUEST' },
        }),
      ];
    }
    let document = documents.get(payload.query);
    if (!document) {
      try {
        document = parse(payload.query, { maxTokens: options.maxQueryTokens });
      } catch (error) {
        return [withCode(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
      }
      const invalid = validate(options.schema, document, rules);
      if (invalid.length > 0) return invalid.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
      documents.set(payload.query, document);
    }
    const refused = checkNumberCap(
      {
        schema: options.schema,
        document,
        operationName: payload.operationName,
        variables: payload.variables,
      },
      options.maxNumbersPerOperation,
    );
    if (refused) return [refused];
    return {
      schema: options.schema,
      document,
      operationName: payload.operationName,
      variableValues: payload.variables,
    };
  };
}
