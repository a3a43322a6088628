import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, Kind, type GraphQLFormattedError } from 'graphql';
import { GatewayError, GatewayErrorCode } from '../errors';
import type { Logger } from '../observability/logger';
import { CALLBACK_PATH } from '../requests/callback-route';

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

/** Options of {@link createErrorFormatter}. */
export interface ErrorFormatterOptions {
  /**
   * Strings no client may ever see (the provider's API key, base URL and host), read for every error since
   * some are known only once the gateway started. Default: none.
   */
  secrets?: () => readonly (string | undefined)[];
  /**
   * Drop GraphQL's "Did you mean …?" suggestions from validation errors: with introspection off they would
   * tell the schema anyway, a field name at a time. Default false.
   */
  hideSuggestions?: boolean;
}

const REDACTED = '[redacted]';
// A callback URL carries its request's secret; whoever echoes one (a provider's error text) must not leak it.
// Token by token rather than one regular expression: `\S*<path>\S*` backtracks quadratically on long
// client-supplied strings (field names, ids), which error messages echo.
function scrubCallbackUrls(value: string): string {
  if (!value.includes(CALLBACK_PATH)) return value;
  return value
    .split(/(\s+)/)
    .map((token) => (token.includes(CALLBACK_PATH) ? REDACTED : token))
    .join('');
}

function scrubber(secrets: readonly string[]) {
  const scrub = (value: unknown): unknown => {
    if (typeof value === 'string') {
      let out = scrubCallbackUrls(value);
      for (const secret of secrets) out = out.replaceAll(secret, REDACTED);
      return out;
    }
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v)]));
    }
    return value;
  };
  return scrub;
}

/**
 * Shapes every error a client sees, over HTTP and WebSocket alike: gateway errors and GraphQL request errors
 * keep their code, message and safe extensions; anything else becomes a masked INTERNAL_SERVER_ERROR (logged
 * in full here). Never returns a stack trace. As a last line of defence, every message and extension string
 * is scrubbed of the configured secrets and of callback URLs, whoever put them there.
 */
export function createErrorFormatter(logger: Logger, options: ErrorFormatterOptions = {}) {
  const shape = createShaper(logger, options.hideSuggestions ?? false);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    // Longest first, so a URL is replaced whole before its host would be.
    const secrets = (options.secrets?.() ?? [])
      .filter((s): s is string => typeof s === 'string' && s.length >= 4)
      .sort((a, b) => b.length - a.length);
    return scrubber(secrets)(shape(formatted, error)) as GraphQLFormattedError;
  };
}

function isVariableError(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.path || error.nodes?.length !== 1) return false;
  const [node] = error.nodes;
  return (
    node.kind === Kind.VARIABLE_DEFINITION &&
    /^Variable "\$[_A-Za-z][_0-9A-Za-z]*" (got invalid value|has invalid value|of required type|of non-null type)/.test(
      error.message,
    )
  );
}

function createShaper(logger: Logger, hideSuggestions: boolean) {
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
    // graphql-js's verdict on a variable of the wrong type. Apollo Server codes it BAD_USER_INPUT over HTTP;
    // over WebSocket nobody does, and its originalError (the scalar's complaint) would make it look internal.
    const code = isVariableError(error)
      ? GatewayErrorCode.BAD_USER_INPUT
      : String(formatted.extensions?.code ?? '');
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
        message:
          // graphql-js's words when an operation would cost too much to validate (its defence against fields
          // repeated by the thousand): true, but they do not tell the client what to change.
          formatted.message === 'Validation aborted.'
            ? 'Validation aborted: the operation repeats fields or fragments too often to be checked. Select ' +
              'each field once.'
            : hideSuggestions
              ? formatted.message.replace(/ ?Did you mean(.+?)\?$/, '')
              : formatted.message,
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
