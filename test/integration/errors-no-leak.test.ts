import { print, type ExecutionResult } from 'graphql';
import type { Client } from 'graphql-ws';
import type { RequestStore } from '../../src/requests/request-store';
import {
  LookupCompletedDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { within } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

const NUMBERS = ['41793026727', '41793026728'];

/** Runs one operation over graphql-ws; resolves with everything the server sent for it. */
function overWs(client: Client, query: string, variables: Record<string, unknown> = {}) {
  return within(
    new Promise<unknown[]>((resolve) => {
      const sent: unknown[] = [];
      client.subscribe(
        { query, variables },
        {
          next: (value: ExecutionResult) => void sent.push(value),
          error: (errors) => resolve([...sent, errors]),
          complete: () => resolve(sent),
        },
      );
    }),
    5_000,
    'the operation over WebSocket',
  );
}

describe.each([[undefined], ['development'], ['staging'], ['production']])(
  'error responses with NODE_ENV=%s',
  (nodeEnv) => {
    const harness = new Harness();
    afterEach(() => harness.dispose());

    it('carry no stack trace, provider key, callback secret or internal URL; client codes stay visible', async () => {
      const simulator = await harness.simulator({
        apiKey: 'provider-key-0123456789',
        callbackDelayMs: 60_000,
      });
      const gateway: TestGateway = await harness.gateway({
        ...(nodeEnv ? { NODE_ENV: nodeEnv } : {}),
        INFOBIP_BASE_URL: simulator.url,
        INFOBIP_API_KEY: simulator.apiKey,
        UPSTREAM_MAX_ATTEMPTS: '1',
        UPSTREAM_BREAKER_THRESHOLD: '1000',
      });
      const responses: unknown[] = [];
      const http = async (query: string, variables?: Record<string, unknown>) => {
        const { status, body, headers } = await gateway.gql(query, variables);
        responses.push(body, [...headers.entries()]);
        return { status, body };
      };
      const code = (body: { errors?: { extensions?: Record<string, unknown> }[] }) =>
        body.errors?.[0]?.extensions?.code;

      // A real async request, so that a callback secret exists somewhere in the gateway.
      const created = await http(print(RequestLookupDocument), { to: NUMBERS });
      const requestId = (created.body.data as { requestLookup: { id: string } }).requestLookup.id;
      const notify = await simulator.waitForRequest((r) => r.path === '/number/1/notify');
      const notifyUrl = (notify.body as { notifyUrl: string }).notifyUrl;
      const secret = notifyUrl.split('/').at(-1)!;
      expect(secret.length).toBeGreaterThanOrEqual(32);

      // Client mistakes keep their codes and details.
      const badInput = await http(print(LookupNumbersDocument), { to: ['abc', '41793026727'] });
      expect(badInput.body.errors![0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        invalidNumbers: [{ index: 0, input: 'abc' }],
      });
      expect(code((await http('{ lookupNumbers(to: ["1"]) { nope } }')).body)).toBe(
        'GRAPHQL_VALIDATION_FAILED',
      );
      expect(code((await http('{ lookupNumbers(')).body)).toBe('GRAPHQL_PARSE_FAILED');
      expect(code((await http(print(LookupNumbersDocument), { to: 5 })).body)).toBe('BAD_USER_INPUT');

      // Provider failures say what happened without echoing the provider's internals.
      simulator.faults.inject(
        {
          kind: 'status',
          status: 400,
          body: {
            requestError: {
              serviceException: {
                messageId: 'BAD_REQUEST',
                text: `Bad key App ${simulator.apiKey} for ${simulator.url}/number/1/query`,
              },
            },
          },
        },
        { endpoint: 'query' },
      );
      expect(code((await http(print(LookupNumbersDocument), { to: ['41793026721'] })).body)).toBe(
        'UPSTREAM_BAD_REQUEST',
      );
      simulator.faults.inject({ kind: 'non-json' }, { endpoint: 'query' });
      expect(code((await http(print(LookupNumbersDocument), { to: ['41793026722'] })).body)).toBe(
        'UPSTREAM_BAD_RESPONSE',
      );
      simulator.faults.inject({ kind: 'drop' }, { endpoint: 'query' });
      expect(code((await http(print(LookupNumbersDocument), { to: ['41793026723'] })).body)).toBe(
        'UPSTREAM_UNAVAILABLE',
      );
      simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query' });
      expect(code((await http(print(LookupNumbersDocument), { to: ['41793026724'] })).body)).toBe(
        'UPSTREAM_UNAVAILABLE',
      );

      // An unexpected failure (the store throws a plain Error full of secrets) is masked, over HTTP and WS.
      const store = gateway.app.internals.store as RequestStore & Record<string, unknown>;
      const failure = () => {
        throw new Error(
          `store down: key ${simulator.apiKey} url ${simulator.url} secret ${secret} ${notifyUrl}`,
        );
      };
      const { get, create } = store;
      store.get = async () => failure();
      store.create = async () => failure();
      try {
        const lookup = await http(print(LookupRequestDocument), { id: requestId });
        expect(lookup.body.errors![0]).toEqual({
          message: 'Internal server error',
          path: ['lookupRequest'],
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
        expect(code((await http(print(RequestLookupDocument), { to: NUMBERS })).body)).toBe(
          'INTERNAL_SERVER_ERROR',
        );
        const ws = await overWs(gateway.wsClient(), print(LookupCompletedDocument), { requestId });
        responses.push(ws);
        expect(JSON.stringify(ws)).toContain('INTERNAL_SERVER_ERROR');
      } finally {
        store.get = get;
        store.create = create;
      }

      // Transport-level refusals.
      const badJson = await fetch(gateway.app.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query": ',
      });
      expect(badJson.status).toBe(400);
      responses.push(await badJson.text());
      const forged = await gateway.postCallback(notifyUrl.replace(/[^/]+$/, 'A'.repeat(43)), { results: [] });
      expect(forged.status).toBe(404);
      responses.push(forged.body);
      const misshapen = await gateway.postCallback(notifyUrl, { nothing: true });
      expect(misshapen.status).toBe(400);
      responses.push(misshapen.body);

      const everything = JSON.stringify(responses);
      expect(everything).not.toMatch(/stacktrace|\bat .+:\d+:\d+|\.ts:\d+/);
      expect(everything).not.toContain(simulator.apiKey);
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(simulator.url);
      expect(everything).not.toContain(new URL(simulator.url).host);
      expect(everything).not.toContain('/callbacks/number-lookup');
    });
  },
);
