import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import bodyParser from 'body-parser';
import cors from 'cors';
import { GraphQLError } from 'graphql';
import { GatewayErrorCode } from '../errors';
import type { GatewayContext } from '../graphql/context';
import type { GatewayMetrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { OperationObserver } from '../observability/operation-observer';
import {
  callbackAnswer,
  parseCallbackPath,
  type CallbackAnswer,
  type CallbackReceiver,
} from '../requests/callback-route';
import { clientAddress } from './operation-guard';
import { checkKey, rateLimitKey, type OperationRateLimiter } from './rate-limit';

/** A dependency /readyz checks. `check` never throws; false = not ready. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

/** Options of {@link createHttpHandler}. */
export interface HttpHandlerOptions {
  apollo: ApolloServer<GatewayContext>;
  callbacks: CallbackReceiver;
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

/** A `(req, res)` listener for `http.Server`'s `request` event. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

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
 * Apollo Server plugin for what HTTP answers beyond GraphQL: `Cache-Control: no-store` on every response (results
 * are per request and may be personal), and a clear `BAD_REQUEST` (HTTP 400) for a subscription sent over HTTP,
 * which this gateway serves over WebSocket only, instead of running it into an internal error.
 */
export function createHttpOperationPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== 'subscription') return;
          throw new GraphQLError(
            'Subscriptions are served over WebSocket (graphql-ws, subprotocol graphql-transport-ws) at this same ' +
              'URL; HTTP serves queries and mutations.',
            { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } },
          );
        },
        async willSendResponse({ response }) {
          response.http.headers.set('cache-control', 'no-store');
        },
      };
    },
  };
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/** What body-parser attaches to a request it has read. */
type ParsedRequest = IncomingMessage & { body?: unknown };

/** body-parser's failures: an HTTP status, a machine-readable type, and for a parse failure the text. */
interface BodyError {
  status?: number;
  statusCode?: number;
  type?: string;
  body?: unknown;
}

/** The `extensions.code` of the first error in a GraphQL error response body; `BAD_REQUEST` when it has none. */
function refusalCode(body: { kind: string; string?: string }): string {
  try {
    const parsed = JSON.parse(body.kind === 'complete' ? (body.string ?? '') : '') as {
      errors?: { extensions?: { code?: unknown } }[];
    };
    const code = parsed.errors?.[0]?.extensions?.code;
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : 'BAD_REQUEST';
  } catch {
    return 'BAD_REQUEST';
  }
}

/** Whether `text` is valid JSON (body-parser refuses JSON that is not an object or array as a parse failure). */
function isJson(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** Runs a connect-style middleware (body-parser, cors) and resolves once it calls `next`. */
function through(
  middleware: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  return new Promise((resolve, reject) =>
    middleware(req, res, (error?: unknown) => (error ? reject(error) : resolve())),
  );
}

/**
 * The gateway's HTTP routes on plain `node:http`: GraphQL at `graphqlPath` (Apollo Server through its
 * `executeHTTPGraphQLRequest`, behind CORS and a size-limited JSON body parser), the provider's callback route,
 * `/healthz`, `/readyz` and `/metrics`; anything else is `404 {"code":"NOT_FOUND"}`. A thin adapter: everything
 * it does is delegated. No web framework in between: on this hot path one cost as much CPU as the rest of the
 * request together.
 */
export function createHttpHandler(options: HttpHandlerOptions): HttpHandler {
  const { apollo, metrics, logger } = options;
  const graphqlPaths = new Set([options.graphqlPath, `${options.graphqlPath}/`]);
  const corsMiddleware = cors({
    origin: options.corsOrigins.includes('*') ? true : options.corsOrigins,
    credentials: false,
    maxAge: 600,
    exposedHeaders: [REQUEST_ID_HEADER, 'retry-after'],
  });
  const jsonBody = bodyParser.json({ limit: options.maxBodyBytes });
  const rawBody = bodyParser.raw({ type: () => true, limit: options.callbackMaxBodyBytes });

  // A GraphQL request refused before Apollo Server saw it is still an operation to count (outcome: its code).
  const refuseEarly = (
    res: ServerResponse,
    requestId: string,
    status: number,
    error: { message: string; extensions: { code: string } & Record<string, unknown> },
  ): void => {
    options.observer.begin({ transport: 'http', requestId }).end(error.extensions.code);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, status, { errors: [error] });
  };

  const bodyFailure = (res: ServerResponse, requestId: string, error: unknown): void => {
    const { status: given, statusCode, type, body: text } = error as BodyError;
    const status = given ?? statusCode ?? 500;
    if (status >= 500) logger.error({ reqId: requestId, err: error }, 'HTTP request failed');
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
          ? isJson(text)
            ? 'The request body must be a JSON object: {"query": "…", "variables": {…}}.'
            : 'The request body is not valid JSON.'
          : status >= 500
            ? 'Internal server error'
            : type === 'charset.unsupported'
              ? 'Unsupported request charset: send UTF-8 JSON.'
              : type === 'encoding.unsupported'
                ? 'Unsupported Content-Encoding: send the body as is, or as gzip, deflate or br.'
                : 'Bad request.';
    refuseEarly(res, requestId, status >= 500 ? 500 : status, { message, extensions: { code } });
  };

  /** The operation's context; a refusal (auth, rate limit) is recorded as an operation and marks `seen.counted`. */
  const contextFor = async (
    req: IncomingMessage,
    requestId: string,
    body: unknown,
    seen: { counted: boolean },
  ) => {
    const key = req.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
    const refuse = (error: GraphQLError): never => {
      const name = (body as { operationName?: unknown } | undefined)?.operationName;
      options.observer
        .begin({ transport: 'http', requestId, operationName: typeof name === 'string' ? name : undefined })
        .end(String(error.extensions.code));
      seen.counted = true;
      throw error;
    };
    const operations = Array.isArray(body) ? body.length : 1;
    const address = clientAddress(req, options.trustProxyHops);
    const clientId = await checkKey(options.rateLimiter, options.authenticate(key), address);
    if (clientId instanceof GraphQLError) refuse(clientId);
    if (clientId === null) {
      refuse(
        new GraphQLError('A valid API key is required: send "Authorization: Bearer <key>".', {
          extensions: {
            code: GatewayErrorCode.UNAUTHENTICATED,
            http: { status: 401, headers: new HeaderMap([['www-authenticate', 'Bearer']]) },
          },
        }),
      );
    }
    const id = clientId as string | undefined;
    const limited = await options.rateLimiter.admit(rateLimitKey(id, address), operations);
    if (limited) refuse(limited);
    return options.context(id, requestId);
  };

  const graphql = async (req: ParsedRequest, res: ServerResponse, requestId: string, search: string) => {
    // A preflight is answered by cors itself, which then never calls next.
    if (req.method === 'OPTIONS') {
      corsMiddleware(req, res, () => sendJson(res, 404, { code: 'NOT_FOUND' }));
      return;
    }
    // CORS is for browsers calling from another origin, and they always say which: a request without `Origin`
    // needs none of its headers. With static origins cors calls next at once and never with an error.
    if (req.headers.origin !== undefined) corsMiddleware(req, res, () => undefined);
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('allow', 'GET, POST');
      refuseEarly(res, requestId, 405, {
        message: 'GraphQL over HTTP takes GET (queries) and POST; subscriptions run over WebSocket.',
        extensions: { code: 'BAD_REQUEST' },
      });
      return;
    }
    // UTF-8 only (body-parser would also decode UTF-7, -16 and -32, which a filter in front that matches bytes
    // cannot read); `utf8` is a common spelling of it.
    const contentType = req.headers['content-type'];
    const charset = contentType ? CHARSET.exec(contentType)?.[1]?.toLowerCase() : undefined;
    if (charset !== undefined && charset !== 'utf-8') {
      if (charset === 'utf8')
        req.headers['content-type'] = (contentType as string).replace(CHARSET, '; charset=utf-8');
      else {
        refuseEarly(res, requestId, 415, {
          message: 'Unsupported request charset: send UTF-8 JSON.',
          extensions: { code: 'BAD_REQUEST' },
        });
        return;
      }
    }
    try {
      await through(jsonBody, req, res);
    } catch (error) {
      bodyFailure(res, requestId, error);
      return;
    }
    const body = req.body;
    if (options.maxBatchSize > 0 && Array.isArray(body) && body.length > options.maxBatchSize) {
      refuseEarly(res, requestId, 400, {
        message: `A batch may hold at most ${options.maxBatchSize} operations (MAX_BATCH_SIZE).`,
        extensions: { code: 'BAD_REQUEST', maxBatchSize: options.maxBatchSize },
      });
      return;
    }
    const headers = new HeaderMap();
    for (const name in req.headers) {
      const value = req.headers[name];
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const seen = { counted: false };
    const observation = { observed: false };
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search, body },
      context: async () => ({ ...(await contextFor(req, requestId, body, seen)), observation }),
    });
    const status = response.status ?? 200;
    // Refused by Apollo Server before any plugin saw it (CSRF prevention, no query, variables that are not an
    // object): counted here, with the code Apollo gave it. Refusals of our own context are counted in it.
    if (status >= 400 && !seen.counted && !observation.observed) {
      options.observer.begin({ transport: 'http', requestId }).end(refusalCode(response.body));
    }
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = status;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };

  const callback = async (
    req: ParsedRequest,
    res: ServerResponse,
    requestId: string,
    params: { id: string; secret: string },
  ) => {
    // Never log the URL: its last segment is the callback secret.
    const log = logger.child({ reqId: requestId });
    const answer = (a: CallbackAnswer, close = false) => {
      metrics.callbacks.inc({ reason: a.reason });
      if (a.reason !== 'accepted') {
        log.warn(
          { route: 'callback', requestId: params.id.slice(0, 64), reason: a.reason },
          'callback refused',
        );
      }
      // A body left unread stays on the socket: close it rather than reuse a connection in an unknown state.
      if (close) res.setHeader('connection', 'close');
      sendJson(res, a.status, a.body);
    };
    const contentType = req.headers['content-type'];
    const refused = await options.callbacks.admit(params.id, params.secret, contentType);
    if (refused) {
      answer(refused, true);
      return;
    }
    try {
      await through(rawBody, req, res);
    } catch (error) {
      const status = (error as BodyError).status ?? (error as BodyError).statusCode ?? 500;
      if (status >= 500) log.error({ err: error, route: 'callback' }, 'callback route failed');
      answer(
        status >= 500
          ? { ...callbackAnswer(500, 'store_unavailable'), body: { code: 'INTERNAL' } }
          : status === 413
            ? callbackAnswer(413, 'too_large')
            : callbackAnswer(400, 'bad_json'),
        true,
      );
      return;
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    answer(await options.callbacks.receive(params.id, params.secret, contentType, raw, log));
  };

  const readyz = async (res: ServerResponse) => {
    const results = await Promise.all(
      options.readiness.map(async ({ name, check }) => [name, await check().catch(() => false)] as const),
    );
    const ready = results.every(([, ok]) => ok);
    sendJson(res, ready ? 200 : 503, {
      status: ready ? 'ready' : 'unavailable',
      checks: Object.fromEntries(results.map(([name, ok]) => [name, ok ? 'ok' : 'unavailable'])),
    });
  };

  const metricsRoute = async (res: ServerResponse) => {
    const text = await metrics.registry.metrics();
    res.statusCode = 200;
    res.setHeader('content-type', metrics.registry.contentType);
    res.end(text);
  };

  return (req, res) => {
    const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query === -1 ? url : url.slice(0, query);
    const method = req.method ?? 'GET';
    let route: Promise<void> | undefined;
    if (graphqlPaths.has(pathname)) {
      route = graphql(req, res, requestId, query === -1 ? '' : url.slice(query));
    } else if (method === 'POST') {
      const params = parseCallbackPath(pathname);
      if (params) route = callback(req, res, requestId, params);
    } else if (method === 'GET' || method === 'HEAD') {
      if (pathname === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
        return;
      }
      if (pathname === '/readyz') route = readyz(res);
      else if (pathname === '/metrics') route = metricsRoute(res);
    }
    if (!route) {
      sendJson(res, 404, { code: 'NOT_FOUND' });
      return;
    }
    route.catch((error: unknown) => {
      logger.error({ reqId: requestId, err: error }, 'HTTP request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, 500, {
        errors: [
          { message: 'Internal server error', extensions: { code: GatewayErrorCode.INTERNAL_SERVER_ERROR } },
        ],
      });
    });
  };
}
