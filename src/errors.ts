import { GraphQLError } from 'graphql';

/** The public error codes (`errors[].extensions.code`): the contract clients code against. */
export enum GatewayErrorCode {
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  NOT_FOUND = 'NOT_FOUND',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  RATE_LIMITED = 'RATE_LIMITED',
  UPSTREAM_UNAUTHORIZED = 'UPSTREAM_UNAUTHORIZED',
  UPSTREAM_BAD_REQUEST = 'UPSTREAM_BAD_REQUEST',
  UPSTREAM_RATE_LIMITED = 'UPSTREAM_RATE_LIMITED',
  UPSTREAM_UNAVAILABLE = 'UPSTREAM_UNAVAILABLE',
  UPSTREAM_BAD_RESPONSE = 'UPSTREAM_BAD_RESPONSE',
  /** The gateway's own request store or pub/sub (Redis) is unreachable: retry later. Beyond the contract's list. */
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

/** One rejected phone number: its position in the input list, what was sent and why it was refused. */
export interface InvalidNumber {
  index: number;
  input: string;
  reason: string;
}

/** What the provider said about a refused call, safe to show to clients (never its raw body). */
export interface UpstreamDetails {
  status?: number;
  messageId?: string;
  text?: string;
  /** For notify: false when the provider may have received (and charged for) the request. */
  outcomeKnown?: boolean;
}

/**
 * Base of every error the gateway shows to clients. `extensions.code` is one of {@link GatewayErrorCode};
 * codes are the contract, classes and messages are not.
 */
export class GatewayError<C extends GatewayErrorCode = GatewayErrorCode> extends GraphQLError {
  declare readonly extensions: { code: C; [key: string]: unknown };

  constructor(code: C, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
    this.name = 'GatewayError';
  }
}

/** Input the gateway refuses before any provider call. */
export class BadUserInputError extends GatewayError<GatewayErrorCode.BAD_USER_INPUT> {
  constructor(
    message: string,
    extensions: { invalidNumbers?: InvalidNumber[]; [key: string]: unknown } = {},
  ) {
    super(GatewayErrorCode.BAD_USER_INPUT, message, extensions);
  }
}

/** An unknown or expired async request id. */
export class NotFoundError extends GatewayError<GatewayErrorCode.NOT_FOUND> {
  constructor(message: string) {
    super(GatewayErrorCode.NOT_FOUND, message);
  }
}

/** Client credentials are required and were missing or wrong. */
export class UnauthenticatedError extends GatewayError<GatewayErrorCode.UNAUTHENTICATED> {
  constructor(message = 'A valid API key is required: send "Authorization: Bearer <key>".') {
    super(GatewayErrorCode.UNAUTHENTICATED, message);
  }
}

/** A client exceeded its configured rate. `retryAfterSeconds` tells it when to come back. */
export class RateLimitedError extends GatewayError<GatewayErrorCode.RATE_LIMITED> {
  constructor(retryAfterSeconds: number) {
    super(GatewayErrorCode.RATE_LIMITED, `Rate limit exceeded; retry in ${retryAfterSeconds} s.`, {
      retryAfterSeconds,
    });
  }
}

type UpstreamCode =
  | GatewayErrorCode.UPSTREAM_UNAUTHORIZED
  | GatewayErrorCode.UPSTREAM_BAD_REQUEST
  | GatewayErrorCode.UPSTREAM_RATE_LIMITED
  | GatewayErrorCode.UPSTREAM_UNAVAILABLE
  | GatewayErrorCode.UPSTREAM_BAD_RESPONSE;

/** Every provider failure leaves the upstream client as one of these; `extensions.upstream` is safe to show. */
export class UpstreamError extends GatewayError<UpstreamCode> {
  constructor(
    code: UpstreamCode,
    message: string,
    readonly upstream: UpstreamDetails = {},
    /** Whether a retry may succeed (429, 5xx, network): drives the retry policy, never shown. */
    readonly retryable = false,
    /** Seconds from the provider's `Retry-After`, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(code, message, {
      upstream,
      // The provider's own wait, so a client backs off as long as the provider asked.
      ...(code === GatewayErrorCode.UPSTREAM_RATE_LIMITED && retryAfterMs !== undefined
        ? { retryAfterSeconds: Math.ceil(retryAfterMs / 1_000) }
        : {}),
    });
  }
}

/**
 * The gateway's request store (Redis) could not be reached, so an async operation was refused before anything
 * was sent to the provider. The callback route turns this into HTTP 503.
 */
export class ServiceUnavailableError extends GatewayError<GatewayErrorCode.SERVICE_UNAVAILABLE> {
  constructor(message = 'The gateway cannot reach its request store right now; retry shortly.') {
    super(GatewayErrorCode.SERVICE_UNAVAILABLE, message);
  }
}

/** A developer-facing configuration problem: lists every invalid setting at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nFix the environment variables above (see .env.example) and start again.',
    );
    this.name = 'ConfigError';
  }
}
