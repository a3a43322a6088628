import type { NextFunction, Request, Response } from 'express';
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

const JSON_TYPE = /^(application\/(.+\+)?json|text\/json)$/i;

function decode(body: Buffer, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').trim().replace(/^"|"$/g, '').toLowerCase();
  // TextDecoder knows every WHATWG charset label; an unknown one is the sender's mistake.
  return new TextDecoder(label, { fatal: false }).decode(body);
}

/**
 * The HTTP adapter over {@link RequestRegistry.receiveCallback}: `POST <CALLBACK_PATH>/:id/:secret` with the
 * raw body (the router mounts a size-limited raw parser). Answers 200 only once the results are stored;
 * 404 for an unknown id or wrong secret (no effect), 415 for a non-JSON content type, 400 for an unparseable or
 * misshapen body, 503 when the store or the pub/sub is unavailable (the provider retries; a retry of results
 * already stored is recognised as a duplicate). Body: JSON `{ code }`.
 */
/**
 * First step of the callback route, before any body is read: an unknown id or a wrong secret answers 404 and
 * costs the sender's bytes nothing to parse; a store outage answers 503 (the provider retries).
 */
export function createCallbackGuard(
  registry: RequestRegistry,
  onRefused: (req: Request, reason: CallbackReason) => void,
) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const { id, secret } = req.params as { id: string; secret: string };
    let verified: boolean;
    try {
      verified = await registry.verifyCallback(id, secret);
    } catch {
      onRefused(req, 'store_unavailable');
      res.status(503).json({ code: 'STORE_UNAVAILABLE' });
      return;
    }
    if (verified) {
      next();
      return;
    }
    onRefused(req, 'not_found');
    // The unread body stays on the socket: close it rather than reuse a connection in an unknown state.
    res.set('connection', 'close').status(404).json({ code: 'NOT_FOUND' });
  };
}

export function createCallbackHandler(
  registry: RequestRegistry,
  logger: Logger,
  onOutcome?: (r: CallbackReason) => void,
) {
  const answer = (
    res: Response,
    status: number,
    reason: CallbackReason,
    extra: Record<string, unknown> = {},
  ) => {
    onOutcome?.(reason);
    res.status(status).json({ code: reason.toUpperCase(), ...extra });
  };
  return async (req: Request, res: Response): Promise<void> => {
    const { id, secret } = req.params as { id: string; secret: string };
    const log = logger.child({ requestId: id, route: 'callback' });
    const contentType = req.headers['content-type'] ?? 'application/json';
    const [mediaType, ...params] = contentType.split(';').map((p) => p.trim());
    if (!JSON_TYPE.test(mediaType)) {
      answer(res, 415, 'unsupported_media_type');
      return;
    }
    const charset = params.find((p) => /^charset=/i.test(p))?.slice('charset='.length);
    let body: unknown;
    try {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      body = JSON.parse(decode(raw, charset).replace(/^\uFEFF/, ''));
    } catch {
      answer(res, 400, 'bad_json');
      return;
    }
    try {
      const outcome = await registry.receiveCallback(id, secret, body);
      if (outcome.kind === 'not-found') {
        answer(res, 404, 'not_found');
      } else if (outcome.kind === 'invalid') {
        answer(res, 400, 'bad_shape', { reason: outcome.reason });
      } else {
        log.info(
          {
            stored: outcome.stored,
            duplicates: outcome.duplicates,
            ignored: outcome.ignored,
            pending: outcome.pending,
          },
          'callback accepted',
        );
        answer(res, 200, 'accepted', {
          stored: outcome.stored,
          duplicates: outcome.duplicates,
          ignored: outcome.ignored,
        });
      }
    } catch (error) {
      log.warn({ err: error }, 'callback refused: request store or pub/sub unavailable');
      answer(res, 503, 'store_unavailable');
    }
  };
}
