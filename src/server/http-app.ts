import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import { GraphQLError } from 'graphql';
import { GatewayErrorCode } from '../errors';
import type { GatewayContext } from '../graphql/context';
import type { GatewayMetrics } from '../observability/metrics';
import { withRequestId, type Logger } from '../observability/logger';
import type { OperationObserver } from '../observability/operation-observer';
import {
  CALLBACK_PATH,
  createCallbackGuard,
  createCallbackHandler,
  type CallbackReason,
} from '../requests/callback-route';
import type { RequestRegistry } from '../requests/request-registry';
import { rateLimitKey, type OperationRateLimiter } from './rate-limit';

/** A dependency /readyz checks. `check` never throws; false = not ready. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

/** Options of {@link createHttpApp}. */
export interface HttpAppOptions {
  apollo: ApolloServer<GatewayContext>;
  registry: RequestRegistry;
  logger: Logger;
  metrics: GatewayMetrics;
  graphqlPath: string;
  corsOrigins: string[];
  maxBodyBytes: number;
  callbackMaxBodyBytes: number;
  readiness: ReadinessCheck[];
  /** Resolves the client id from `Authorization` (undefined: auth off); null = refused. */
  authenticate: (authorization: string | undefined) => string | null | undefined;
  context: (clientId: string | undefined, requestId: string) => GatewayContext;
  /** Most operations in one batched POST (`MAX_BATCH_SIZE`); 0 = batching off (Apollo refuses arrays). */
  maxBatchSize: number;
  /** Per-client operation budget; consulted once per operation after authentication. */
  rateLimiter: OperationRateLimiter;
  /** Records operations refused before Apollo Server sees them (auth, rate limit); Apollo's plugin does the rest. */
  observer: OperationObserver;
  /** Reverse proxies in front of the gateway whose `X-Forwarded-For` is trusted for client addresses (`TRUST_PROXY`). */
  trustProxyHops: number;
}

/** The request id header: honoured when a client or proxy sends a sane one, else generated; always echoed. */
export const REQUEST_ID_HEADER = 'x-request-id';

const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request id to use for an incoming `x-request-id` value: the value itself if sane, else a new UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  // Anything else could forge log lines or bloat them; a fresh id is still correlatable via the echo.
  return value && SANE_REQUEST_ID.test(value) ? value : crypto.randomUUID();
}

/** Hashes an API key into a stable client id (never the key itself). */
export function clientIdOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/**
 * Builds the authenticator for configured client keys: none configured = auth off (undefined for everyone).
 * Keys are compared through their hashes in constant time.
 */
export function createKeyAuthenticator(keys: string[]) {
  const digests = keys.map((k) => createHash('sha256').update(k).digest());
  return (key: string | undefined): string | null | undefined => {
    if (digests.length === 0) return undefined;
    if (!key) return null;
    const digest = createHash('sha256').update(key).digest();
    let match = false;
    for (const d of digests) match = timingSafeEqual(d, digest) || match;
    return match ? clientIdOf(key) : null;
  };
}

/**
 * The HTTP routes on one express app: GraphQL at `graphqlPath`, the provider's callback route, health,
 * readiness and metrics. A thin adapter: everything it does is delegated.
 */
export function createHttpApp(options: HttpAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxyHops);

  app.use((req, res, next) => {
    const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    res.locals.requestId = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      options.readiness.map(async ({ name, check }) => [name, await check().catch(() => false)] as const),
    );
    const ready = results.every(([, ok]) => ok);
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'unavailable',
      checks: Object.fromEntries(results.map(([name, ok]) => [name, ok ? 'ok' : 'unavailable'])),
    });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });

  const reportCallback = (req: Request, log: Logger) => (reason: CallbackReason) => {
    options.metrics.callbacks.inc({ reason });
    if (reason !== 'accepted') {
      log.warn({ route: 'callback', requestId: req.params.id.slice(0, 64), reason }, 'callback refused');
    }
  };
  app.post(
    `${CALLBACK_PATH}/:id/:secret`,
    createCallbackGuard(options.registry, (req, reason) =>
      reportCallback(req, options.logger.child({ reqId: req.res?.locals.requestId }))(reason),
    ),
    express.raw({ type: () => true, limit: options.callbackMaxBodyBytes }),
    (req, res) => {
      const requestId = res.locals.requestId as string;
      // Never log the URL: its last segment is the callback secret.
      const log = options.logger.child({ reqId: requestId });
      const handle = createCallbackHandler(options.registry, log, reportCallback(req, log));
      return withRequestId(requestId, () => handle(req, res));
    },
  );

  app.use(
    options.graphqlPath,
    cors<cors.CorsRequest>({
      origin: options.corsOrigins.includes('*') ? true : options.corsOrigins,
      credentials: false,
      maxAge: 600,
      exposedHeaders: [REQUEST_ID_HEADER, 'retry-after'],
    }),
    express.json({ limit: options.maxBodyBytes }),
    (req: Request, res: Response, next: NextFunction) => {
      if (options.maxBatchSize > 0 && Array.isArray(req.body) && req.body.length > options.maxBatchSize) {
        res.status(400).json({
          errors: [
            {
              message: `A batch may hold at most ${options.maxBatchSize} operations (MAX_BATCH_SIZE).`,
              extensions: { code: 'BAD_REQUEST', maxBatchSize: options.maxBatchSize },
            },
          ],
        });
        return;
      }
      // Entered after body parsing: the parser's stream events would not carry the context along.
      withRequestId(res.locals.requestId as string, next);
    },
    expressMiddleware(options.apollo, {
      context: async ({ req, res }) => {
        const requestId = res.locals.requestId as string;
        const header = req.headers.authorization;
        const key = header?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
        const clientId = options.authenticate(key);
        const operations = Array.isArray(req.body) ? req.body.length : 1;
        const refuse = (error: GraphQLError): never => {
          const name = (req.body as { operationName?: unknown } | undefined)?.operationName;
          const observed = options.observer.begin({
            transport: 'http',
            requestId,
            operationName: typeof name === 'string' ? name : undefined,
          });
          observed.end(String(error.extensions.code));
          throw error;
        };
        if (clientId === null) {
          refuse(
            new GraphQLError('A valid API key is required: send "Authorization: Bearer <key>".', {
              extensions: { code: GatewayErrorCode.UNAUTHENTICATED, http: { status: 401 } },
            }),
          );
        }
        const limited = await options.rateLimiter.admit(
          rateLimitKey(clientId ?? undefined, req.ip),
          operations,
        );
        if (limited) refuse(limited);
        return options.context(clientId ?? undefined, requestId);
      },
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ code: 'NOT_FOUND' });
  });

  // Body parser failures (too large, bad JSON) and anything else thrown by a route.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: number; statusCode?: number }).status ?? 500;
    const type = (error as { type?: string }).type;
    if (req.path.startsWith(CALLBACK_PATH)) {
      const reason = status === 413 ? 'too_large' : 'bad_json';
      const log = options.logger.child({ reqId: res.locals.requestId as string, route: 'callback' });
      if (status >= 500) log.error({ err: error }, 'callback route failed');
      else log.warn({ reason }, 'callback refused');
      options.metrics.callbacks.inc({ reason: status >= 500 ? 'store_unavailable' : reason });
      res
        .status(status >= 500 ? 500 : status === 413 ? 413 : 400)
        .json({ code: status >= 500 ? 'INTERNAL' : reason.toUpperCase() });
      return;
    }
    if (status >= 500) {
      options.logger.error({ reqId: res.locals.requestId as string, err: error }, 'HTTP request failed');
    }
    const code =
      status === 413
        ? 'PAYLOAD_TOO_LARGE'
        : status >= 500
          ? GatewayErrorCode.INTERNAL_SERVER_ERROR
          : 'BAD_REQUEST';
    const message =
      status === 413
        ? `Request body larger than ${options.maxBodyBytes} bytes.`
        : type === 'entity.parse.failed'
          ? 'The request body is not valid JSON.'
          : status >= 500
            ? 'Internal server error'
            : type === 'charset.unsupported'
              ? 'Unsupported request charset: send UTF-8 JSON.'
              : type === 'encoding.unsupported'
                ? 'Unsupported Content-Encoding: send the body as is, gzip or deflate.'
                : 'Bad request.';
    res.status(status >= 500 ? 500 : status).json({ errors: [{ message, extensions: { code } }] });
  });

  return app;
}
