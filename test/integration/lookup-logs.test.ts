import { LOGS_RATE_LIMIT, simulateLookup, type ProviderSimulator } from '../../src/simulator';
import {
  LookupLogsDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
  type LookupLogFilter,
} from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness } from '../helpers/gateway';

const PROVIDER_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/;

function logCalls(simulator: ProviderSimulator) {
  return simulator.received.filter((r) => r.path === '/number/1/logs');
}

describe('lookupLogs (provider GET /number/1/logs), through the gateway', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it('sends every filter as the provider expects it: repeated ids, upper-case status, provider dates', async () => {
    const gateway = await harness.gateway();
    const filter: LookupLogFilter = {
      to: '+41 79 302 67 27',
      bulkIds: ['bulk-1', 'bulk-2'],
      messageIds: ['msg-1', 'msg-2', 'msg-3'],
      generalStatus: 'delivered',
      sentSince: '2024-05-01T12:00:00.250+02:00',
      sentUntil: '2024-05-02T00:00:00Z',
      limit: 20,
      mcc: '228',
      mnc: '01',
    };

    const { body } = await gateway.gql(LookupLogsDocument, { filter });

    expect(body.errors).toBeUndefined();
    expect(body.data!.lookupLogs).toEqual([]);
    const calls = logCalls(gateway.simulator);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'GET', body: undefined });
    expect(calls[0].query).toEqual({
      to: ['41793026727'],
      bulkId: ['bulk-1', 'bulk-2'],
      messageId: ['msg-1', 'msg-2', 'msg-3'],
      generalStatus: ['DELIVERED'],
      sentSince: ['2024-05-01T10:00:00.250+0000'],
      sentUntil: ['2024-05-02T00:00:00.000+0000'],
      limit: ['20'],
      mcc: ['228'],
      mnc: ['01'],
    });
    expect(calls[0].query.sentSince[0]).toMatch(PROVIDER_DATE);
    expect(calls[0].headers.authorization).toBe(`App ${gateway.simulator.apiKey}`);
  });

  it('sends no parameters without a filter, and the provider applies its default limit', async () => {
    const gateway = await harness.gateway();
    const { body } = await gateway.gql(LookupLogsDocument, {});
    expect(body.errors).toBeUndefined();
    expect(logCalls(gateway.simulator)[0].query).toEqual({});
  });

  it.each<[string, LookupLogFilter]>([
    ['limit above 1000', { limit: 1_001 }],
    ['limit below 1', { limit: 0 }],
    ['mnc without mcc', { mnc: '01' }],
    ['an unknown generalStatus', { generalStatus: 'SOMETIMES' }],
    ['sentSince after sentUntil', { sentSince: '2024-05-02T00:00:00Z', sentUntil: '2024-05-01T00:00:00Z' }],
    ['a to that is not a phone number', { to: 'not a number' }],
  ])('refuses %s with BAD_USER_INPUT before any provider call', async (_name, filter) => {
    const gateway = await harness.gateway();

    const { status, body } = await gateway.gql(LookupLogsDocument, { filter });

    expect(status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors!.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(gateway.simulator.received).toHaveLength(0);
  });

  it('refuses a sentSince that is not a date-time before any provider call', async () => {
    const gateway = await harness.gateway();
    const { body } = await gateway.gql(LookupLogsDocument, { filter: { sentSince: 'yesterday' } });
    expect(body.errors![0].extensions?.code).toBe('BAD_USER_INPUT');
    // Written inline in the document it is the same bad filter, with the same code.
    const inline = await gateway.gql('{ lookupLogs(filter: { sentUntil: "soon" }) { to } }');
    expect(inline.body.errors![0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(inline.body.errors![0].message).toContain('sentUntil');
    expect(gateway.simulator.received).toHaveLength(0);
  });

  it('shows what was really looked up: the sync lookup in the history, with price, dates and status', async () => {
    const gateway = await harness.gateway();
    const before = Date.now();
    const looked = ['41793026727', '41793026728', '41793026720'];
    await gateway.gql(LookupNumbersDocument, { to: looked });
    const after = Date.now();

    const { body } = await gateway.gql(LookupLogsDocument, { filter: { to: '+41 79 302 67 28' } });

    expect(body.errors).toBeUndefined();
    const logs = body.data!.lookupLogs;
    expect(logs).toHaveLength(1);
    const answer = simulateLookup('41793026728');
    expect(logs[0]).toMatchObject({
      to: '41793026728',
      bulkId: expect.any(String),
      messageId: expect.any(String),
      mccMnc: answer.mccMnc,
      price: { currency: 'EUR', pricePerLookup: 0.01 },
      status: { groupName: answer.status!.groupName, name: answer.status!.name },
      error: { groupName: answer.error!.groupName, name: answer.error!.name },
    });
    // ISO-8601 out (the provider's `+0000` turned into `Z`), and the time the lookup really happened.
    const sentAt = Date.parse(logs[0].sentAt as string);
    expect(logs[0].sentAt).toMatch(/Z$/);
    expect(sentAt).toBeGreaterThanOrEqual(before - 1);
    expect(sentAt).toBeLessThanOrEqual(after + 1);
    expect(Date.parse(logs[0].doneAt as string)).toBeGreaterThanOrEqual(sentAt);

    // Filters narrow the history the way the provider applies them.
    const delivered = await gateway.gql(LookupLogsDocument, { filter: { generalStatus: 'DELIVERED' } });
    expect(delivered.body.data!.lookupLogs.map((l) => l.to)).toEqual(['41793026720']);
    expect(looked.filter((n) => simulateLookup(n).status?.groupName === 'DELIVERED')).toEqual([
      '41793026720',
    ]);
    const later = await gateway.gql(LookupLogsDocument, {
      filter: { sentSince: new Date(after + 60_000).toISOString() },
    });
    expect(later.body.data!.lookupLogs).toEqual([]);
    const limited = await gateway.gql(LookupLogsDocument, { filter: { limit: 1 } });
    expect(limited.body.data!.lookupLogs).toHaveLength(1);
  });

  it('shows an async lookup under its bulkId and messageIds', async () => {
    const gateway = await harness.gateway();
    const numbers = ['41793026720', '41793026724'];
    const { body: started } = await gateway.gql(RequestLookupDocument, { to: numbers });
    const { id, bulkId } = started.data!.requestLookup;
    let results: { to: string; messageId?: string | null }[] = [];
    await until(
      async () => {
        const { body } = await gateway.gql(LookupRequestDocument, { id });
        results = body.data!.lookupRequest!.results;
        return body.data!.lookupRequest!.state === 'COMPLETED';
      },
      5_000,
      'the async request to complete',
    );

    const byBulk = await gateway.gql(LookupLogsDocument, { filter: { bulkIds: [bulkId!] } });
    expect(byBulk.body.data!.lookupLogs.map((l) => l.to).sort()).toEqual(numbers);
    const messageIds = results.map((r) => r.messageId as string);
    const byMessage = await gateway.gql(LookupLogsDocument, { filter: { messageIds } });
    expect(byMessage.body.data!.lookupLogs.map((l) => [l.messageId, l.bulkId]).sort()).toEqual(
      messageIds.map((m) => [m, bulkId]).sort(),
    );
  });

  it("surfaces the provider's 60-per-minute throttle as UPSTREAM_RATE_LIMITED, without waiting a minute", async () => {
    const gateway = await harness.gateway({
      UPSTREAM_RETRY_BASE_DELAY_MS: '1',
      UPSTREAM_RETRY_MAX_DELAY_MS: '5',
    });
    for (let i = 0; i < LOGS_RATE_LIMIT; i++) {
      const { body } = await gateway.gql(LookupLogsDocument, { filter: { limit: 1 } });
      expect(body.errors).toBeUndefined();
    }
    const started = Date.now();

    const { body } = await gateway.gql(LookupLogsDocument, { filter: { limit: 1 } });

    expect(body.data).toBeNull();
    expect(body.errors![0].extensions).toMatchObject({
      code: 'UPSTREAM_RATE_LIMITED',
      upstream: { status: 429, messageId: 'TOO_MANY_REQUESTS' },
    });
    // Its Retry-After (up to a minute) is beyond the retry budget, so the client gives up at once: one call.
    expect(logCalls(gateway.simulator)).toHaveLength(LOGS_RATE_LIMIT + 1);
    expect(Date.now() - started).toBeLessThan(5_000);
    const shown = JSON.stringify(body);
    expect(shown).not.toContain(gateway.simulator.apiKey);
    expect(shown).not.toContain(gateway.simulator.url.replace('http://', ''));
  });
});
