import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { GatewayError, GatewayErrorCode } from '../errors';
import type { Logger } from '../observability/logger';

// Codes whose messages are about the client's own request and carry no internals.
const CLIENT_CODES = new Set<string>([
  ...Object.values(GatewayErrorCode).filter((c) => c !== GatewayErrorCode.INTERNAL_SERVER_ERROR),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'INTROSPECTION_DISABLED',
  'MAX_RECURSIVE_SELECTIONS_EXCEEDED',
]);

/**
 * Shapes every error a client sees, over HTTP and WebSocket alike: gateway errors and GraphQL request errors
 * keep their code, message and safe extensions; anything else becomes a masked INTERNAL_SERVER_ERROR (logged
 * in full here). Never returns a stack trace.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof GatewayError) {
      // `http` tells Apollo Server the status and headers; it is not for the client.
      const { http: _http, ...extensions } = original.extensions;
      return {
        message: original.message,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions,
      };
    }
    const code = String(formatted.extensions?.code ?? '');
    // A GraphQLError without an originalError is about the request itself (parse, validation, coercion).
    const requestError =
      CLIENT_CODES.has(code) ||
      (error instanceof Error &&
        'originalError' in error &&
        !(error as { originalError?: unknown }).originalError &&
        !formatted.path);
    if (requestError) {
      const {
        stacktrace: _stacktrace,
        exception: _exception,
        http: _http,
        ...extensions
      } = formatted.extensions ?? {};
      return {
        message: formatted.message,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { ...extensions, code: code || 'GRAPHQL_VALIDATION_FAILED' },
      };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error in an operation');
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: GatewayErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}
