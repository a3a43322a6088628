import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import { GraphQLError } from 'graphql';
import { GatewayErrorCode } from '../errors';
import type { GatewayContext } from '../graphql/context';
import type { GatewayMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import { CALLBACK_PATH, createCallbackHandler } from '../requests/callback-route';
import type { RequestRegistry } from '../requests/request-registry';

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

  app.post(
    `${CALLBACK_PATH}/:id/:secret`,
    express.raw({ type: () => true, limit: options.callbackMaxBodyBytes }),
    createCallbackHandler(options.registry, options.logger, (reason) =>
      options.metrics.callbacks.inc({ reason }),
    ),
  );

  app.use(
    options.graphqlPath,
    cors<cors.CorsRequest>({
      origin: options.corsOrigins.includes('*') ? true : options.corsOrigins,
      credentials: false,
      maxAge: 600,
    }),
    express.json({ limit: options.maxBodyBytes }),
    expressMiddleware(options.apollo, {
      context: async ({ req }) => {
        const header = req.headers.authorization;
        const key = header?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
        const clientId = options.authenticate(key);
        if (clientId === null) {
          throw new GraphQLError('A valid API key is required: send "Authorization: Bearer <key>".', {
            extensions: { code: GatewayErrorCode.UNAUTHENTICATED, http: { status: 401 } },
          });
        }
        const requestId =
          (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].slice(0, 64)) ||
          crypto.randomUUID();
        return options.context(clientId, requestId);
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
      if (status >= 500) options.logger.error({ err: error }, 'callback route failed');
      options.metrics.callbacks.inc({ reason: status >= 500 ? 'store_unavailable' : reason });
      res
        .status(status >= 500 ? 500 : status === 413 ? 413 : 400)
        .json({ code: status >= 500 ? 'INTERNAL' : reason.toUpperCase() });
      return;
    }
    if (status >= 500) options.logger.error({ err: error }, 'HTTP request failed');
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
            : 'Bad request.';
    res.status(status >= 500 ? 500 : status).json({ errors: [{ message, extensions: { code } }] });
  });

  return app;
}
