import type { Logger } from '../observability/logger';
import type { RequestRegistry } from './request-registry';

/** Path prefix of the callback route; the request id and the secret follow as two path segments. */
export const CALLBACK_PATH = '/callbacks/number-lookup';

/** Callback outcomes counted by reason, for metrics. */
export type CallbackReason =
  | 'accepted'
  | 'not_found'
  | 'bad_json'
  | 'bad_shape'
  | 'unsupported_media_type'
  | 'too_large'
  | 'store_unavailable';

/** What the callback route answers: an HTTP status and a JSON body `{ code, … }`, counted under `reason`. */
export interface CallbackAnswer {
  status: number;
  reason: CallbackReason;
  body: { code: string } & Record<string, unknown>;
}

/** The answer for `reason` with HTTP `status`; the body's `code` is the reason in capitals. */
export function callbackAnswer(
  status: number,
  reason: CallbackReason,
  extra: Record<string, unknown> = {},
): CallbackAnswer {
  return { status, reason, body: { code: reason.toUpperCase(), ...extra } };
}

const JSON_TYPE = /^(application\/(.+\+)?json|text\/json)$/i;
const SEGMENT = /^[^/]+$/;

/**
 * The request id and secret of a callback path, `<CALLBACK_PATH>/<id>/<secret>` (a trailing slash allowed,
 * segments percent-decoded); undefined for any other path, or a segment that does not decode.
 */
export function parseCallbackPath(pathname: string): { id: string; secret: string } | undefined {
  if (!pathname.startsWith(`${CALLBACK_PATH}/`)) return undefined;
  const rest = pathname.slice(CALLBACK_PATH.length + 1).replace(/\/$/, '');
  const slash = rest.indexOf('/');
  if (slash === -1) return undefined;
  const [id, secret] = [rest.slice(0, slash), rest.slice(slash + 1)];
  if (!SEGMENT.test(id) || !SEGMENT.test(secret)) return undefined;
  try {
    return { id: decodeURIComponent(id), secret: decodeURIComponent(secret) };
  } catch {
    return undefined;
  }
}

function decode(body: Buffer, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').trim().replace(/^"|"$/g, '').toLowerCase();
  // TextDecoder knows every WHATWG charset label. A label it does not know (utf-8mb4, a typo) is the sender's
  // mistake, but the results are still worth having: JSON's own charset, UTF-8, is the best guess.
  try {
    return new TextDecoder(label, { fatal: false }).decode(body);
  } catch {
    return new TextDecoder().decode(body);
  }
}

/**
 * The provider's side of {@link RequestRegistry.receiveCallback}, free of any HTTP library: the route adapter
 * asks {@link CallbackReceiver.admit} before it reads a byte of the body, then hands the body to
 * {@link CallbackReceiver.receive}, and writes the {@link CallbackAnswer} it gets.
 */
export interface CallbackReceiver {
  /**
   * Before the body is read: 404 for an unknown id or a wrong secret (no effect, and the sender's bytes cost
   * nothing to parse), 503 when the store is unavailable (the provider retries), then 415 for a content type
   * that is not JSON (a missing one is read as JSON). Undefined: read the body and call `receive`.
   */
  admit(id: string, secret: string, contentType: string | undefined): Promise<CallbackAnswer | undefined>;
  /**
   * Parses the body (JSON in any charset, a BOM allowed) and stores its results: 200 only once they are stored;
   * 400 for an unparseable or misshapen body; 404 if the request went away meanwhile; 503 when the store or the
   * pub/sub is unavailable (a retry of results already stored is recognised as a duplicate). Never rejects.
   */
  receive(
    id: string,
    secret: string,
    contentType: string | undefined,
    raw: Buffer,
    logger: Logger,
  ): Promise<CallbackAnswer>;
}

/** The callback receiver over `registry`. */
export function createCallbackReceiver(registry: RequestRegistry): CallbackReceiver {
  return {
    async admit(id, secret, contentType) {
      try {
        if (!(await registry.verifyCallback(id, secret))) return callbackAnswer(404, 'not_found');
      } catch {
        return callbackAnswer(503, 'store_unavailable');
      }
      const mediaType = (contentType ?? 'application/json').split(';')[0].trim();
      return JSON_TYPE.test(mediaType) ? undefined : callbackAnswer(415, 'unsupported_media_type');
    },

    async receive(id, secret, contentType, raw, logger) {
      const log = logger.child({ requestId: id, route: 'callback' });
      const charset = (contentType ?? '')
        .split(';')
        .map((p) => p.trim())
        .find((p) => /^charset=/i.test(p))
        ?.slice('charset='.length);
      let body: unknown;
      try {
        body = JSON.parse(decode(raw, charset).replace(/^\uFEFF/, ''));
      } catch {
        return callbackAnswer(400, 'bad_json');
      }
      try {
        const outcome = await registry.receiveCallback(id, secret, body);
        if (outcome.kind === 'not-found') return callbackAnswer(404, 'not_found');
        if (outcome.kind === 'invalid') return callbackAnswer(400, 'bad_shape', { reason: outcome.reason });
        const { stored, duplicates, ignored, pending } = outcome;
        log.info({ stored, duplicates, ignored, pending }, 'callback accepted');
        return callbackAnswer(200, 'accepted', { stored, duplicates, ignored });
      } catch (error) {
        log.warn({ err: error }, 'callback refused: request store or pub/sub unavailable');
        return callbackAnswer(503, 'store_unavailable');
      }
    },
  };
}
