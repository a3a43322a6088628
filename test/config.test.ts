import { APOLLO_SANDBOX_ORIGIN, loadConfig } from '../src/config';
import { ConfigError } from '../src/errors';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment (built-in simulator, in-process mode)', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 4000,
      host: '0.0.0.0',
      publicUrl: undefined,
      production: false,
      provider: { baseUrl: undefined, apiKey: undefined, timeoutMs: 10_000, maxAttempts: 3 },
      lookup: { maxNumbersPerOperation: 1_000, cacheTtlMs: 0 },
      requests: { asyncTimeoutMs: 300_000, retentionMs: 86_400_000 },
      redisUrl: undefined,
      http: {
        corsOrigins: [APOLLO_SANDBOX_ORIGIN],
        introspection: true,
        landingPage: true,
        maxRootFields: 10,
      },
      auth: { clientApiKeys: [] },
    });
  });

  it('treats empty strings as unset and accepts numeric separators', () => {
    expect(loadConfig({ PORT: '', UPSTREAM_TIMEOUT_MS: '2_500' })).toMatchObject({
      port: 4000,
      provider: { timeoutMs: 2_500 },
    });
  });

  it('names every problem at once, single-field and cross-field alike, without echoing values', () => {
    const problems = problemsOf({
      PORT: 'abc',
      ASYNC_RESULT_TIMEOUT_MS: '100000',
      REQUEST_RETENTION_MS: '1000',
      UPSTREAM_RETRY_BASE_DELAY_MS: '5000',
      UPSTREAM_RETRY_MAX_DELAY_MS: '100',
      INFOBIP_BASE_URL: 'https://api.example.com',
      REDIS_URL: 'http://secret-host:6379',
      MAX_NUMBERS_PER_OPERATION: '5000',
      MAX_STORED_NUMBERS: '2000',
    });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'INFOBIP_API_KEY',
      'MAX_STORED_NUMBERS',
      'PORT',
      'REDIS_URL',
      'REQUEST_RETENTION_MS',
      'UPSTREAM_RETRY_MAX_DELAY_MS',
    ]);
    expect(problems.join('\n')).not.toContain('secret-host');
  });

  it.each([
    ['a fragment', 'http://gw.example.com/#x'],
    ['a query', 'http://gw.example.com/?a=1'],
    ['credentials', 'https://user:pass@gw.example.com'],
    ['no scheme', 'gw.example.com'],
    ['another scheme', 'ftp://gw.example.com'],
  ])('refuses a PUBLIC_URL with %s: the callback path appended to it would never arrive', (_what, value) => {
    expect(problemsOf({ PUBLIC_URL: value }).map((p) => p.split(':')[0])).toEqual(['PUBLIC_URL']);
  });

  it('strips a trailing slash from PUBLIC_URL and accepts a path prefix', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://gw.example.com/lookup/' }).publicUrl).toBe(
      'https://gw.example.com/lookup',
    );
  });

  it.each(['prod', 'PRODUCTION', 'live'])(
    'refuses NODE_ENV=%s rather than quietly running as development',
    (v) => {
      expect(problemsOf({ NODE_ENV: v }).map((p) => p.split(':')[0])).toEqual(['NODE_ENV']);
    },
  );

  it('turns Sandbox, introspection and the Studio CORS origin off in production unless told otherwise', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).http).toMatchObject({
      corsOrigins: [],
      introspection: false,
      landingPage: false,
    });
    expect(
      loadConfig({ NODE_ENV: 'production', INTROSPECTION: 'true', CORS_ORIGINS: 'https://app.example.com' })
        .http,
    ).toMatchObject({ corsOrigins: ['https://app.example.com'], introspection: true });
  });

  it('refuses CORS origins that browsers never send', () => {
    expect(problemsOf({ CORS_ORIGINS: 'https://ok.example.com, not-an-origin' })[0]).toMatch(
      /^CORS_ORIGINS:/,
    );
    expect(problemsOf({ CORS_ORIGINS: 'https://app.example.com/path' })[0]).toMatch(/^CORS_ORIGINS:/);
    expect(loadConfig({ CORS_ORIGINS: '*, http://localhost:3000' }).http.corsOrigins).toEqual([
      '*',
      'http://localhost:3000',
    ]);
  });

  it('requires the provider URL and key together', () => {
    expect(problemsOf({ INFOBIP_API_KEY: 'k' }).map((p) => p.split(':')[0])).toEqual(['INFOBIP_BASE_URL']);
    expect(
      loadConfig({ INFOBIP_BASE_URL: 'https://xyz.api.infobip.com/', INFOBIP_API_KEY: 'k' }).provider,
    ).toMatchObject({ baseUrl: 'https://xyz.api.infobip.com', apiKey: 'k' });
  });
});
