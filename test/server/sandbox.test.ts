import WebSocket from 'ws';
import { APOLLO_SANDBOX_ORIGIN } from '../../src/config';
import { LookupCompletedDocument, RequestLookupDocument } from '../fixtures/generated/graphql';
import { Harness, type TestGateway } from '../helpers/gateway';

const INTROSPECTION = '{ __schema { queryType { name } } }';

async function getLandingPage(gateway: TestGateway) {
  const response = await fetch(gateway.app.graphqlUrl, { headers: { accept: 'text/html' } });
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    html: await response.text(),
  };
}

async function preflight(gateway: TestGateway, origin: string) {
  const response = await fetch(gateway.app.graphqlUrl, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization',
    },
  });
  return {
    status: response.status,
    allowOrigin: response.headers.get('access-control-allow-origin'),
    allowHeaders: response.headers.get('access-control-allow-headers') ?? '',
  };
}

describe('Apollo Sandbox support', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  describe('landing page on GET /graphql', () => {
    it.each([[undefined], ['development'], ['staging']])(
      'is served outside production (NODE_ENV=%s)',
      async (env) => {
        const gateway = await harness.gateway(env ? { NODE_ENV: env } : {});
        const page = await getLandingPage(gateway);
        expect(page.status).toBe(200);
        expect(page.type).toContain('text/html');
        expect(page.html).toMatch(/sandbox/i);
      },
    );

    it('is not served in production, unless LANDING_PAGE turns it on', async () => {
      const production = await harness.gateway({ NODE_ENV: 'production' });
      const page = await getLandingPage(production);
      expect(page.type).not.toContain('text/html');
      expect(page.html).not.toMatch(/sandbox/i);

      const switchedOn = await harness.gateway({ NODE_ENV: 'production', LANDING_PAGE: 'true' });
      expect((await getLandingPage(switchedOn)).type).toContain('text/html');
      const switchedOff = await harness.gateway({ LANDING_PAGE: 'false' });
      expect((await getLandingPage(switchedOff)).type).not.toContain('text/html');
    });
  });

  describe('introspection', () => {
    it('is on outside production and off in production, over HTTP and WebSocket', async () => {
      const development = await harness.gateway();
      const open = await development.gql<{ __schema: { queryType: { name: string } } }, never>(INTROSPECTION);
      expect(open.body.data!.__schema.queryType.name).toBe('Query');

      const production = await harness.gateway({ NODE_ENV: 'production' });
      const closed = await production.gql(INTROSPECTION);
      expect(closed.status).toBe(400);
      expect(closed.body.data).toBeUndefined();
      expect(closed.body.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');

      const client = production.wsClient();
      const result = await new Promise<{ errors?: unknown }>((resolve) => {
        let seen: { errors?: unknown } = {};
        client.subscribe(
          { query: INTROSPECTION },
          {
            next: (value) => (seen = value),
            error: (errors) => resolve({ errors }),
            complete: () => resolve(seen),
          },
        );
      });
      expect(JSON.stringify(result.errors)).toContain('GRAPHQL_VALIDATION_FAILED');
      expect(JSON.stringify(result)).not.toContain('queryType');
    });

    it('says so in its own words when off, and then suggests no field names either', async () => {
      const production = await harness.gateway({ NODE_ENV: 'production' });
      const closed = await production.gql(INTROSPECTION);
      expect(closed.body.errors![0].message).not.toContain('ApolloServer');
      const typo = await production.gql('{ lookupNumber(to: ["41793026727"]) { to } }');
      expect(typo.body.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(typo.body.errors![0].message).not.toContain('lookupNumbers');

      const development = await harness.gateway();
      const helped = await development.gql('{ lookupNumber(to: ["41793026727"]) { to } }');
      expect(helped.body.errors![0].message).toContain('Did you mean "lookupNumbers"?');
    });

    it('is switchable both ways with INTROSPECTION', async () => {
      const on = await harness.gateway({ NODE_ENV: 'production', INTROSPECTION: 'true' });
      expect((await on.gql(INTROSPECTION)).body.errors).toBeUndefined();
      const off = await harness.gateway({ INTROSPECTION: 'false' });
      expect((await off.gql(INTROSPECTION)).body.errors![0].extensions!.code).toBe(
        'GRAPHQL_VALIDATION_FAILED',
      );
    });
  });

  describe('CORS', () => {
    it("admits Apollo Studio's Sandbox origin by default outside production, and no other", async () => {
      const gateway = await harness.gateway();
      const sandbox = await preflight(gateway, APOLLO_SANDBOX_ORIGIN);
      expect(sandbox.status).toBe(204);
      expect(sandbox.allowOrigin).toBe(APOLLO_SANDBOX_ORIGIN);
      expect(sandbox.allowHeaders.toLowerCase()).toContain('authorization');
      expect((await preflight(gateway, 'https://evil.example')).allowOrigin).toBeNull();
    });

    it('admits only the configured origins in production (none by default)', async () => {
      const bare = await harness.gateway({ NODE_ENV: 'production' });
      expect((await preflight(bare, APOLLO_SANDBOX_ORIGIN)).allowOrigin).toBeNull();

      const configured = await harness.gateway({
        NODE_ENV: 'production',
        CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
      });
      expect((await preflight(configured, 'https://app.example.com')).allowOrigin).toBe(
        'https://app.example.com',
      );
      expect((await preflight(configured, 'https://admin.example.com')).allowOrigin).toBe(
        'https://admin.example.com',
      );
      expect((await preflight(configured, APOLLO_SANDBOX_ORIGIN)).allowOrigin).toBeNull();
    });
  });

  describe('CSRF prevention', () => {
    const url = (gateway: TestGateway) =>
      `${gateway.app.graphqlUrl}?query=${encodeURIComponent('{ __typename }')}`;

    it('refuses simple requests a browser would send cross-site without a preflight', async () => {
      const gateway = await harness.gateway();
      const textPlain = await fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(textPlain.status).toBe(400);
      expect(
        ((await textPlain.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions
          .code,
      ).toBe('BAD_REQUEST');
      const form = await fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'query=%7B__typename%7D',
      });
      expect(form.status).toBe(400);
      const simpleGet = await fetch(url(gateway));
      expect(simpleGet.status).toBe(400);
    });

    it('accepts GET queries that carry apollo-require-preflight or a JSON content type', async () => {
      const gateway = await harness.gateway();
      const withHeader = await fetch(url(gateway), { headers: { 'apollo-require-preflight': 'true' } });
      expect(withHeader.status).toBe(200);
      expect(await withHeader.json()).toEqual({ data: { __typename: 'Query' } });
      const withType = await fetch(url(gateway), { headers: { 'content-type': 'application/json' } });
      expect(withType.status).toBe(200);
    });
  });

  it('serves subscriptions over graphql-ws on /graphql to a browser page from the Sandbox origin', async () => {
    const gateway = await harness.gateway();
    const { body } = await gateway.gql(RequestLookupDocument, { to: ['41793026727', '41793026728'] });
    class SandboxWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { headers: { origin: APOLLO_SANDBOX_ORIGIN } });
      }
    }
    const subscription = gateway.subscribe(
      gateway.wsClient({ webSocketImpl: SandboxWebSocket }),
      LookupCompletedDocument,
      { requestId: body.data!.requestLookup.id },
    );
    expect(await subscription.completed()).toHaveLength(2);
  });
});
