import {
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  parse,
  type ExecutionResult,
  type GraphQLFieldConfig,
} from 'graphql';
import { EventQueue } from '../../src/requests/event-queue';
import { createSharedSubscribe } from '../../src/server/shared-subscribe';
import { simulateLookup } from '../../src/simulator';
import { LookupCompletedDocument, RequestLookupDocument } from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';

interface Context {
  clientId?: string;
}

/** A tiny schema whose subscription field streams whatever is published, counting executions of `value`. */
function createFixture() {
  const listeners = new Set<EventQueue<{ value: string }>>();
  const counts = { executions: 0 };
  const Event = new GraphQLObjectType<{ value: string }, Context>({
    name: 'Event',
    fields: {
      value: {
        type: GraphQLString,
        resolve: (event) => {
          counts.executions++;
          return event.value;
        },
      },
      owner: { type: GraphQLString, resolve: (_event, _args, context) => context.clientId },
    },
  });
  const event: GraphQLFieldConfig<unknown, Context> = {
    type: Event,
    args: { tag: { type: GraphQLString } },
    subscribe: () => {
      const queue: EventQueue<{ value: string }> = new EventQueue(() => listeners.delete(queue));
      listeners.add(queue);
      return queue;
    },
    resolve: (payload) => payload,
  };
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({ name: 'Subscription', fields: { event } }),
  });
  const publish = (payload: { value: string }) => {
    for (const queue of listeners) queue.push(payload);
  };
  return { schema, publish, listeners, counts };
}

const VALUE = parse('subscription ($tag: String) { event(tag: $tag) { value owner } }');
const VALUE_ONLY = parse('subscription { event { value } }');

type Stream = AsyncGenerator<ExecutionResult, void, void>;

describe('createSharedSubscribe', () => {
  it('executes an event once for every subscriber with the same operation, variables and scope', async () => {
    const { schema, publish, counts } = createFixture();
    const subscribe = createSharedSubscribe({ scopeOf: (c) => (c as Context).clientId });
    const streams = (await Promise.all(
      [1, 2, 3].map(() => subscribe({ schema, document: VALUE, contextValue: { clientId: 'a' } })),
    )) as Stream[];
    const next = streams.map((s) => s.next());
    publish({ value: 'v1' });
    const results = await Promise.all(next);
    expect(results.map((r) => r.value)).toEqual(
      [1, 2, 3].map(() => ({ data: { event: { value: 'v1', owner: 'a' } } })),
    );
    expect(counts.executions).toBe(1);
    await Promise.all(streams.map((s) => s.return()));
  });

  it('executes separately per document, per variables and per scope, each with its own context', async () => {
    const { schema, publish, counts } = createFixture();
    const subscribe = createSharedSubscribe({ scopeOf: (c) => (c as Context).clientId });
    const streams = (await Promise.all([
      subscribe({ schema, document: VALUE, contextValue: { clientId: 'a' } }),
      subscribe({ schema, document: VALUE, contextValue: { clientId: 'b' } }),
      subscribe({ schema, document: VALUE, contextValue: { clientId: 'a' }, variableValues: { tag: 'x' } }),
      subscribe({ schema, document: VALUE_ONLY, contextValue: { clientId: 'a' } }),
    ])) as Stream[];
    const next = streams.map((s) => s.next());
    publish({ value: 'v1' });
    const results = (await Promise.all(next)).map((r) => r.value);
    expect(results).toEqual([
      { data: { event: { value: 'v1', owner: 'a' } } },
      { data: { event: { value: 'v1', owner: 'b' } } },
      { data: { event: { value: 'v1', owner: 'a' } } },
      { data: { event: { value: 'v1' } } },
    ]);
    expect(counts.executions).toBe(4);
    await Promise.all(streams.map((s) => s.return()));
  });

  it('executes the same event object again in a later burst', async () => {
    const { schema, publish, counts } = createFixture();
    const subscribe = createSharedSubscribe();
    const stream = (await subscribe({ schema, document: VALUE_ONLY, contextValue: {} })) as Stream;
    const event = { value: 'v1' };
    const first = stream.next();
    publish(event);
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    const second = stream.next();
    publish(event);
    expect((await second).value).toEqual({ data: { event: { value: 'v1' } } });
    expect(counts.executions).toBe(2);
    await stream.return();
  });

  it('closes the source stream when the consumer returns', async () => {
    const { schema, listeners } = createFixture();
    const subscribe = createSharedSubscribe();
    const stream = (await subscribe({ schema, document: VALUE_ONLY, contextValue: {} })) as Stream;
    expect(listeners.size).toBe(1);
    const pending = stream.next();
    await stream.return();
    expect(listeners.size).toBe(0);
    expect(await pending).toEqual({ value: undefined, done: true });
  });

  it('answers errors, not a stream, when the subscription cannot start', async () => {
    const { schema } = createFixture();
    const subscribe = createSharedSubscribe();
    const result = await subscribe({ schema, document: parse('subscription { nope }'), contextValue: {} });
    expect(Symbol.asyncIterator in result).toBe(false);
    expect((result as ExecutionResult).errors).toHaveLength(1);
  });
});

describe('lookupCompleted fan-out through the gateway', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('gives subscribers of one request with different selections each their own shape', async () => {
    const simulator = await harness.simulator({ callbackDelayMs: 60_000 });
    const gateway = await harness.gateway({}, { simulator });
    const { body } = await gateway.gql(RequestLookupDocument, { to: ['41793026720'] });
    const id = body.data!.requestLookup.id;
    const notify = await simulator.waitForRequest((r) => r.path === '/number/1/notify');
    const client = gateway.wsClient();
    const full = [1, 2].map(() => gateway.subscribe(client, LookupCompletedDocument, { requestId: id }));
    const small = gateway.subscribe(
      client,
      parse('subscription ($requestId: ID!) { lookupCompleted(requestId: $requestId) { to } }'),
      { requestId: id },
    );
    await until(
      () => gateway.app.internals.registry.stats().activeWatches === 3,
      5_000,
      'three subscriptions',
    );
    const posted = await gateway.postCallback((notify.body as { notifyUrl: string }).notifyUrl, {
      results: [simulateLookup('41793026720')],
    });
    expect(posted.status).toBe(200);
    const [a, b] = await Promise.all(full.map((s) => s.completed()));
    expect(a).toEqual(b);
    expect(a[0].data?.lookupCompleted).toMatchObject({
      to: '41793026720',
      status: { name: 'DELIVERED_TO_HANDSET' },
    });
    expect(await small.completed()).toEqual([{ data: { lookupCompleted: { to: '41793026720' } } }]);
  });
});
