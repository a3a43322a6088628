import { ApolloClient, HttpLink, InMemoryCache, split } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { simulateLookup } from '../../src/simulator';
import {
  LookupCompletedDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

const NUMBERS = ['41793026727', '41793026728', '41793026729'];

/** What a web or mobile app sets up: HTTP for queries and mutations, graphql-ws for subscriptions. */
function apolloClientFor(gateway: TestGateway, harness: Harness, apiKey?: string) {
  const sockets: WebSocket[] = [];
  let connections = 0;
  const wsClient: Client = createClient({
    url: gateway.app.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: apiKey ? { authorization: `Bearer ${apiKey}` } : undefined,
    // Reconnect after an abnormal close and resubscribe every active subscription.
    retryAttempts: 5,
    shouldRetry: () => true,
    retryWait: async () => undefined,
    on: {
      opened: (socket) => void sockets.push(socket as WebSocket),
      connected: () => void connections++,
    },
  });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    new HttpLink({
      uri: gateway.app.graphqlUrl,
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  harness.defer(async () => {
    client.stop();
    await wsClient.dispose();
  });
  return { client, sockets, connections: () => connections };
}

async function notifyUrlOf(gateway: TestGateway): Promise<string> {
  const notify = await gateway.simulator.waitForRequest((r) => r.path === '/number/1/notify');
  return (notify.body as { notifyUrl: string }).notifyUrl;
}

const finalResult = (to: string) => ({ ...simulateLookup(to), messageId: `m-${to}` });

describe('Apollo Client (@apollo/client 4 with a graphql-ws link)', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('runs the query, the mutation and the subscription', async () => {
    const gateway = await harness.gateway();
    const { client } = apolloClientFor(gateway, harness);

    const lookup = await client.query({
      query: LookupNumbersDocument,
      variables: { to: ['+41 79 302 67 27'] },
    });
    expect(lookup.data!.lookupNumbers).toEqual([
      expect.objectContaining({ to: '41793026727', mccMnc: '22801' }),
    ]);

    const mutation = await client.mutate({ mutation: RequestLookupDocument, variables: { to: NUMBERS } });
    const request = mutation.data!.requestLookup;
    expect(request).toMatchObject({ state: 'PENDING', to: NUMBERS });

    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe({ query: LookupCompletedDocument, variables: { requestId: request.id } }).subscribe({
        next: ({ data, error }) => (error ? reject(error) : received.push(data!.lookupCompleted.to)),
        error: reject,
        complete: resolve,
      });
    });
    expect([...received].sort()).toEqual(NUMBERS);

    const state = await client.query({
      query: LookupRequestDocument,
      variables: { id: request.id },
      fetchPolicy: 'network-only',
    });
    expect(state.data!.lookupRequest).toMatchObject({ state: 'COMPLETED' });
    expect(state.data!.lookupRequest!.results).toHaveLength(3);
  });

  it('reconnects in the middle of an async request, resubscribes, and receives every number', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const { client, sockets, connections } = apolloClientFor(gateway, harness);
    const mutation = await client.mutate({ mutation: RequestLookupDocument, variables: { to: NUMBERS } });
    const requestId = mutation.data!.requestLookup.id;
    const notifyUrl = await notifyUrlOf(gateway);

    const received: string[] = [];
    let completed = false;
    let failed: unknown;
    client.subscribe({ query: LookupCompletedDocument, variables: { requestId } }).subscribe({
      next: ({ data, error }) => (error ? (failed = error) : received.push(data!.lookupCompleted.to)),
      error: (error) => (failed = error),
      complete: () => (completed = true),
    });
    await until(() => gateway.app.internals.registry.stats().activeWatches === 1, 5_000, 'the subscription');

    expect((await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[0])] })).status).toBe(200);
    await until(() => received.length === 1, 5_000, 'the first result');

    // The network drops: no close frame, the client sees 1006 and retries.
    sockets[0].terminate();
    // The resubscription replays what the request already holds: the first number again.
    await until(() => received.length === 2, 5_000, 'the replay after the reconnect');
    expect(connections()).toBe(2);
    expect(received).toEqual([NUMBERS[0], NUMBERS[0]]);

    expect((await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[1])] })).status).toBe(200);
    expect((await gateway.postCallback(notifyUrl, { results: [finalResult(NUMBERS[2])] })).status).toBe(200);
    await until(() => completed || failed !== undefined, 5_000, 'the subscription to complete');

    expect(failed).toBeUndefined();
    // The contract: every number arrives and the subscription completes. A resubscription is a new
    // subscription, so what arrived before the drop is replayed once; clients de-duplicate by `to`.
    expect([...new Set(received)]).toEqual(NUMBERS);
    expect(received).toEqual([NUMBERS[0], NUMBERS[0], NUMBERS[1], NUMBERS[2]]);
    expect(gateway.app.internals.registry.stats().activeWatches).toBe(0);
  });

  it('authenticates with a Bearer header over HTTP and connectionParams over WebSocket', async () => {
    const gateway = await harness.gateway({ CLIENT_API_KEYS: 'mobile-app-key' });
    const { client } = apolloClientFor(gateway, harness, 'mobile-app-key');
    const mutation = await client.mutate({ mutation: RequestLookupDocument, variables: { to: NUMBERS } });
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client
        .subscribe({
          query: LookupCompletedDocument,
          variables: { requestId: mutation.data!.requestLookup.id },
        })
        .subscribe({
          next: ({ data, error }) => (error ? reject(error) : received.push(data!.lookupCompleted.to)),
          error: reject,
          complete: resolve,
        });
    });
    expect([...received].sort()).toEqual(NUMBERS);
  });
});
