import { STATUS_CODES } from 'node:http';
import type { ProviderErrorBody } from '../upstream/provider-types';

/** Builds the provider's error body; `validationErrors` is left out when not given, as the provider does. */
export function providerErrorBody(
  messageId: string,
  text: string,
  validationErrors?: Record<string, string[]>,
): ProviderErrorBody {
  return {
    requestError: {
      serviceException: validationErrors ? { messageId, text, validationErrors } : { messageId, text },
    },
  };
}

/** The provider's 401 body, byte for byte what the gateway sees from the real API. */
export const UNAUTHORIZED_BODY = providerErrorBody('UNAUTHORIZED', 'Invalid login details');

const KNOWN: Readonly<Record<number, ProviderErrorBody>> = {
  400: providerErrorBody('BAD_REQUEST', 'Bad request'),
  401: UNAUTHORIZED_BODY,
  403: providerErrorBody('FORBIDDEN', 'Forbidden'),
  404: providerErrorBody('NOT_FOUND', 'Not found'),
  405: providerErrorBody('METHOD_NOT_ALLOWED', 'Method not allowed'),
  429: providerErrorBody('TOO_MANY_REQUESTS', 'Too many requests'),
  500: providerErrorBody('GENERAL_ERROR', 'Something went wrong. Please contact support.'),
};

/**
 * The default answer for an injected status fault: the provider's JSON error for statuses it documents,
 * a plain-text page for 502/503/504 (those come from proxies in front of it, not from the API itself), and a
 * provider-shaped body named after the HTTP reason phrase for anything else. Never throws.
 */
export function defaultFaultBody(status: number): ProviderErrorBody | string {
  const known = KNOWN[status];
  if (known) return known;
  const phrase = STATUS_CODES[status] ?? 'Unknown';
  if (status >= 502 && status <= 504) return `${status} ${phrase}`;
  return providerErrorBody(phrase.toUpperCase().replace(/[^A-Z0-9]+/g, '_'), phrase);
}
