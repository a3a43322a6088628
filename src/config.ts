import { z } from 'zod';
import { ConfigError } from './errors';

/** Everything the gateway can be told, resolved and validated. Built by {@link loadConfig}; never read from env elsewhere. */
export interface GatewayConfig {
  /** `NODE_ENV`; `production` hides the landing page and introspection unless told otherwise. */
  nodeEnv: string;
  production: boolean;
  /** Listen port (`PORT`, default 4000; 0 = ephemeral, for tests). */
  port: number;
  /** Listen address (`HOST`, default `0.0.0.0`). */
  host: string;
  /** Base URL at which the provider reaches the callback route (`PUBLIC_URL`, default `http://localhost:$PORT`). */
  publicUrl?: string;
  /** `LOG_LEVEL` (pino level or `silent`), default `info`. */
  logLevel: string;
  /** The provider. `baseUrl` unset = the built-in simulator is started in-process. */
  provider: {
    baseUrl?: string;
    apiKey?: string;
    timeoutMs: number;
    maxAttempts: number;
    retryBaseDelayMs: number;
    retryMaxDelayMs: number;
    retryBudgetMs: number;
    breakerThreshold: number;
    breakerCooldownMs: number;
    connections: number;
  };
  /** The built-in simulator's callback behaviour (only used when `provider.baseUrl` is unset). */
  simulator: { callbackDelayMs: number; callbackMode: 'single' | 'per-number' };
  lookup: {
    /** Most numbers one operation may carry, counted across aliases (`MAX_NUMBERS_PER_OPERATION`, default 1000). */
    maxNumbersPerOperation: number;
    /** Provider calls in flight for one operation when it is split into chunks of 1000 (`UPSTREAM_CHUNK_CONCURRENCY`, default 4). */
    chunkConcurrency: number;
    /** Result cache time-to-live (`CACHE_TTL_MS`, default 0 = off). */
    cacheTtlMs: number;
    /** Result cache capacity in numbers (`CACHE_MAX_ENTRIES`, default 100 000). */
    cacheMaxEntries: number;
  };
  requests: {
    /** A pending async request becomes EXPIRED after this (`ASYNC_RESULT_TIMEOUT_MS`, default 5 min). */
    asyncTimeoutMs: number;
    /** Requests are forgotten this long after creation (`REQUEST_RETENTION_MS`, default 24 h). */
    retentionMs: number;
    /**
     * In-process mode: most numbers over all stored requests (`MAX_STORED_NUMBERS`, default 200 000); finished
     * requests are forgotten early to make room, and `requestLookup` is refused when only pending ones are left.
     */
    maxStoredNumbers: number;
  };
  /** `REDIS_URL`; unset = in-process store and pub/sub. */
  redisUrl?: string;
  /** Prefix of every Redis key and channel (`REDIS_KEY_PREFIX`, default `nlg:`): several gateways can share one Redis. */
  redisKeyPrefix: string;
  http: {
    /** CORS origins (`CORS_ORIGINS`, comma-separated; `*` for any). */
    corsOrigins: string[];
    /** Introspection (`INTROSPECTION`, default on outside production). */
    introspection: boolean;
    /** Apollo Sandbox landing page on GET /graphql (`LANDING_PAGE`, default on outside production). */
    landingPage: boolean;
    /** Largest GraphQL request body (`MAX_BODY_BYTES`, default 100 kB). */
    maxBodyBytes: number;
    /** Largest callback body (`CALLBACK_MAX_BODY_BYTES`, default 5 MB: 1000 full results fit). */
    callbackMaxBodyBytes: number;
    /** Deepest selection allowed (`MAX_QUERY_DEPTH`, default 8). */
    maxQueryDepth: number;
    /** Most top-level fields (aliases included) in one operation (`MAX_ROOT_FIELDS`, default 10). */
    maxRootFields: number;
    /** Most lexical tokens in one document (`MAX_QUERY_TOKENS`, default 2000): bounds its aliases and nesting. */
    maxQueryTokens: number;
    /** Most open connections, HTTP and WebSocket (`MAX_CONNECTIONS`, default 0 = no bound of the gateway's own). */
    maxConnections: number;
    /** Operations per batched HTTP request (`MAX_BATCH_SIZE`, default 0 = batching off). */
    maxBatchSize: number;
    /**
     * Reverse proxies in front of the gateway whose `X-Forwarded-For` entries are trusted for the client's
     * address, used to rate-limit clients without keys (`TRUST_PROXY`, default 0 = use the peer address).
     */
    trustProxyHops: number;
  };
  auth: {
    /** Client API keys (`CLIENT_API_KEYS`, comma-separated). Empty = no client auth. */
    clientApiKeys: string[];
  };
  /** Operations per client per minute (`RATE_LIMIT_PER_MINUTE`, default 0 = off). */
  rateLimitPerMinute: number;
  ws: {
    /** Ping interval that detects dead peers (`WS_KEEPALIVE_MS`, default 15 s). */
    keepAliveMs: number;
    /** Time a socket has to send connection_init (`WS_INIT_TIMEOUT_MS`, default 3 s). */
    connectionInitWaitTimeoutMs: number;
    /** Operations one socket may run at once, subscriptions included (`MAX_OPERATIONS_PER_CONNECTION`, default 100). */
    maxOperationsPerConnection: number;
  };
  /** Bound on graceful shutdown (`SHUTDOWN_TIMEOUT_MS`, default 10 s). */
  shutdownTimeoutMs: number;
}

/** Apollo Studio's hosted Sandbox, admitted by CORS outside production unless `CORS_ORIGINS` says otherwise. */
export const APOLLO_SANDBOX_ORIGIN = 'https://studio.apollographql.com';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d[\d_]*$/, 'must be a whole number')
    .transform((v) => Number(v.replaceAll('_', '')))
    .pipe(z.number().int().min(min).max(max));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']))
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const httpUrl = z
  .string()
  .trim()
  .url('must be an absolute URL')
  .refine((v) => /^https?:\/\//i.test(v), 'must start with http:// or https://')
  .transform((v) => v.replace(/\/+$/, ''));

/** A base URL the provider appends a path to: no query, fragment or credentials, which would swallow it. */
const publicBaseUrl = httpUrl.refine((v) => {
  try {
    const url = new URL(v);
    return !url.search && !url.hash && !url.username && !url.password && !v.includes('#') && !v.includes('?');
  } catch {
    return false;
  }
}, 'must be a plain base URL: no query (?), fragment (#) or user:password@');

/** One CORS origin: `*`, or scheme://host[:port] exactly as browsers send it in `Origin`. */
const origin = z.string().refine((v) => {
  if (v === '*') return true;
  try {
    return new URL(v).origin === v;
  } catch {
    return false;
  }
}, 'each entry must be * or an origin like https://app.example.com (scheme, host, optional port, no path)');

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'staging', 'test'], {
      // A typo ("prod") must not quietly run production with Sandbox and introspection on.
      errorMap: () => ({ message: 'must be one of development, production, staging, test' }),
    })
    .default('development'),
  PORT: int(0, 65_535).default('4000'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PUBLIC_URL: publicBaseUrl.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INFOBIP_BASE_URL: httpUrl.optional(),
  INFOBIP_API_KEY: z.string().trim().min(1, 'must not be empty').optional(),
  UPSTREAM_TIMEOUT_MS: int(1, 300_000).default('10000'),
  UPSTREAM_MAX_ATTEMPTS: int(1, 10).default('3'),
  UPSTREAM_RETRY_BASE_DELAY_MS: int(0, 60_000).default('200'),
  UPSTREAM_RETRY_MAX_DELAY_MS: int(0, 300_000).default('2000'),
  UPSTREAM_RETRY_BUDGET_MS: int(1, 600_000).default('15000'),
  UPSTREAM_BREAKER_THRESHOLD: int(1, 1000).default('5'),
  UPSTREAM_BREAKER_COOLDOWN_MS: int(0, 600_000).default('10000'),
  UPSTREAM_CONNECTIONS: int(1, 1024).default('32'),
  UPSTREAM_CHUNK_CONCURRENCY: int(1, 64).default('4'),
  SIMULATOR_CALLBACK_DELAY_MS: int(0, 600_000).default('200'),
  SIMULATOR_CALLBACK_MODE: z.enum(['single', 'per-number']).default('single'),
  MAX_NUMBERS_PER_OPERATION: int(1, 100_000).default('1000'),
  CACHE_TTL_MS: int(0, 30 * 24 * 3_600_000).default('0'),
  CACHE_MAX_ENTRIES: int(1, 10_000_000).default('100000'),
  ASYNC_RESULT_TIMEOUT_MS: int(100, 7 * 24 * 3_600_000).default('300000'),
  REQUEST_RETENTION_MS: int(1_000, 30 * 24 * 3_600_000).default('86400000'),
  MAX_STORED_NUMBERS: int(1_000, 100_000_000).default('200000'),
  REDIS_URL: z
    .string()
    .trim()
    .refine((v) => /^rediss?:\/\/./i.test(v), 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .trim()
    .regex(/^[\w:.-]{1,64}$/, 'must be 1-64 letters, digits, or _ : . -')
    .default('nlg:'),
  CORS_ORIGINS: list.pipe(z.array(origin)).optional(),
  INTROSPECTION: bool.optional(),
  LANDING_PAGE: bool.optional(),
  MAX_BODY_BYTES: int(1_024, 100_000_000).default('102400'),
  CALLBACK_MAX_BODY_BYTES: int(1_024, 100_000_000).default('5242880'),
  MAX_QUERY_DEPTH: int(1, 100).default('8'),
  MAX_ROOT_FIELDS: int(1, 1_000).default('10'),
  MAX_QUERY_TOKENS: int(100, 1_000_000).default('2000'),
  MAX_CONNECTIONS: int(0, 10_000_000).default('0'),
  MAX_BATCH_SIZE: int(0, 100).default('0'),
  TRUST_PROXY: int(0, 10).default('0'),
  CLIENT_API_KEYS: list.default(''),
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default('0'),
  WS_KEEPALIVE_MS: int(0, 600_000).default('15000'),
  WS_INIT_TIMEOUT_MS: int(100, 600_000).default('3000'),
  MAX_OPERATIONS_PER_CONNECTION: int(1, 100_000).default('100'),
  // Below 100 ms not even an idle gateway finishes closing its connections: every stop would count as failed.
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default('10000'),
});

/**
 * Reads and validates the environment: the only reader of `process.env` in the gateway.
 * Empty strings count as unset. Throws {@link ConfigError} naming every invalid variable at once.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(
      ([key, value]) => key in envSchema.shape && value !== undefined && value !== '',
    ),
  );
  const parsed = envSchema.safeParse(present);
  const problems: string[] = [];
  if (!parsed.success) {
    const named = new Set<string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      // One line per variable (the first reason is the telling one); never echo a value: it may be a credential.
      if (named.has(name)) continue;
      named.add(name);
      problems.push(`${name}: ${issue.message}`);
    }
  }
  // Cross-field checks run on every field that is valid on its own, so one start-up error names everything.
  const value = <K extends keyof typeof envSchema.shape>(name: K) => {
    const result = envSchema.shape[name].safeParse(present[name]);
    return result.success ? (result.data as z.infer<(typeof envSchema.shape)[K]>) : undefined;
  };
  const baseUrl = value('INFOBIP_BASE_URL');
  const apiKey = value('INFOBIP_API_KEY');
  if (baseUrl && !apiKey && present.INFOBIP_API_KEY === undefined) {
    problems.push('INFOBIP_API_KEY: required when INFOBIP_BASE_URL is set');
  }
  if (apiKey && !baseUrl && present.INFOBIP_BASE_URL === undefined) {
    problems.push(
      'INFOBIP_BASE_URL: required when INFOBIP_API_KEY is set (without both, the built-in simulator runs)',
    );
  }
  const baseDelay = value('UPSTREAM_RETRY_BASE_DELAY_MS');
  const maxDelay = value('UPSTREAM_RETRY_MAX_DELAY_MS');
  if (baseDelay !== undefined && maxDelay !== undefined && maxDelay < baseDelay) {
    problems.push('UPSTREAM_RETRY_MAX_DELAY_MS: must not be smaller than UPSTREAM_RETRY_BASE_DELAY_MS');
  }
  const timeout = value('ASYNC_RESULT_TIMEOUT_MS');
  const retention = value('REQUEST_RETENTION_MS');
  if (timeout !== undefined && retention !== undefined && retention < timeout) {
    problems.push('REQUEST_RETENTION_MS: must not be shorter than ASYNC_RESULT_TIMEOUT_MS');
  }
  const maxStored = value('MAX_STORED_NUMBERS');
  const maxPerOperation = value('MAX_NUMBERS_PER_OPERATION');
  if (maxStored !== undefined && maxPerOperation !== undefined && maxStored < maxPerOperation) {
    problems.push('MAX_STORED_NUMBERS: must not be smaller than MAX_NUMBERS_PER_OPERATION');
  }
  const e = parsed.success ? parsed.data : undefined;
  if (problems.length > 0 || !e) throw new ConfigError(problems);

  const production = e.NODE_ENV === 'production';
  return {
    nodeEnv: e.NODE_ENV,
    production,
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL,
    logLevel: e.LOG_LEVEL,
    provider: {
      baseUrl: e.INFOBIP_BASE_URL,
      apiKey: e.INFOBIP_API_KEY,
      timeoutMs: e.UPSTREAM_TIMEOUT_MS,
      maxAttempts: e.UPSTREAM_MAX_ATTEMPTS,
      retryBaseDelayMs: e.UPSTREAM_RETRY_BASE_DELAY_MS,
      retryMaxDelayMs: e.UPSTREAM_RETRY_MAX_DELAY_MS,
      retryBudgetMs: e.UPSTREAM_RETRY_BUDGET_MS,
      breakerThreshold: e.UPSTREAM_BREAKER_THRESHOLD,
      breakerCooldownMs: e.UPSTREAM_BREAKER_COOLDOWN_MS,
      connections: e.UPSTREAM_CONNECTIONS,
    },
    simulator: { callbackDelayMs: e.SIMULATOR_CALLBACK_DELAY_MS, callbackMode: e.SIMULATOR_CALLBACK_MODE },
    lookup: {
      maxNumbersPerOperation: e.MAX_NUMBERS_PER_OPERATION,
      chunkConcurrency: e.UPSTREAM_CHUNK_CONCURRENCY,
      cacheTtlMs: e.CACHE_TTL_MS,
      cacheMaxEntries: e.CACHE_MAX_ENTRIES,
    },
    requests: {
      asyncTimeoutMs: e.ASYNC_RESULT_TIMEOUT_MS,
      retentionMs: e.REQUEST_RETENTION_MS,
      maxStoredNumbers: e.MAX_STORED_NUMBERS,
    },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    http: {
      corsOrigins: e.CORS_ORIGINS ?? (production ? [] : [APOLLO_SANDBOX_ORIGIN]),
      introspection: e.INTROSPECTION ?? !production,
      landingPage: e.LANDING_PAGE ?? !production,
      maxBodyBytes: e.MAX_BODY_BYTES,
      callbackMaxBodyBytes: e.CALLBACK_MAX_BODY_BYTES,
      maxQueryDepth: e.MAX_QUERY_DEPTH,
      maxRootFields: e.MAX_ROOT_FIELDS,
      maxQueryTokens: e.MAX_QUERY_TOKENS,
      maxConnections: e.MAX_CONNECTIONS,
      maxBatchSize: e.MAX_BATCH_SIZE,
      trustProxyHops: e.TRUST_PROXY,
    },
    auth: { clientApiKeys: e.CLIENT_API_KEYS },
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    ws: {
      keepAliveMs: e.WS_KEEPALIVE_MS,
      connectionInitWaitTimeoutMs: e.WS_INIT_TIMEOUT_MS,
      maxOperationsPerConnection: e.MAX_OPERATIONS_PER_CONNECTION,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}
