import { startProviderSimulator, type ProviderSimulator } from '../../src/simulator';
import { LookupLog, parseLogsQuery } from '../../src/simulator/lookup-log';
import { formatProviderDate, parseProviderDate } from '../../src/simulator/provider-dates';
import type {
  ProviderErrorBody,
  ProviderLogsResponse,
  ProviderResultsResponse,
} from '../../src/upstream/provider-types';
import { send } from './helpers';

let sim: ProviderSimulator;

beforeEach(async () => {
  sim = await startProviderSimulator({ callbackDelayMs: 0 });
});

afterEach(async () => {
  await sim.dispose();
});

const query = async (to: string[]) =>
  (
    await send(sim.url, '/number/1/query', { body: { to }, apiKey: sim.apiKey })
  ).json<ProviderResultsResponse>();
const logs = (search = '') => send(sim.url, `/number/1/logs${search}`, { apiKey: sim.apiKey });
const logResults = async (search = '') => (await logs(search)).json<ProviderLogsResponse>().results;

describe('GET /number/1/logs', () => {
  it('serves what was really looked up, newest first, in the provider log shape', async () => {
    const first = await query(['41793026727']);
    const second = await query(['41793026720', '41793026728']);
    const results = await logResults();
    expect(results.map((r) => r.to)).toEqual(['41793026728', '41793026720', '41793026727']);
    expect(results[2]).toStrictEqual({
      bulkId: first.bulkId,
      messageId: expect.any(String),
      to: '41793026727',
      sentAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$/),
      doneAt: expect.stringMatching(/\+0000$/),
      mccMnc: '22801',
      price: { currency: 'EUR', pricePerLookup: 0.01 },
      status: expect.objectContaining({ name: 'UNDELIVERABLE_NOT_DELIVERED' }),
      error: expect.objectContaining({ name: 'EC_ABSENT_SUBSCRIBER' }),
    });
    expect(results[0].bulkId).toBe(second.bulkId);
  });

  it('logs notify lookups with the acknowledged messageIds', async () => {
    const ack = await send(sim.url, '/number/1/notify', {
      body: { to: ['41793026720', '41793026723'], notifyUrl: 'http://127.0.0.1:9/never' },
      apiKey: sim.apiKey,
    });
    const ids = ack.json<ProviderResultsResponse>().results.map((r) => r.messageId as string);
    const results = await logResults(`?messageId=${ids[1]}`);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ messageId: ids[1], to: '41793026723' });
  });

  it('filters by to, repeatable bulkId, generalStatus, mcc/mnc and limit', async () => {
    const a = await query(['41793026720']);
    const b = await query(['41763026721']);
    await query(['4915112345673']);
    expect((await logResults('?to=41793026720')).map((r) => r.to)).toEqual(['41793026720']);
    const both = await logResults(`?bulkId=${a.bulkId}&bulkId=${b.bulkId}`);
    expect(both.map((r) => r.bulkId)).toEqual([b.bulkId, a.bulkId]);
    expect((await logResults('?generalStatus=DELIVERED')).map((r) => r.to)).toEqual([
      '41763026721',
      '41793026720',
    ]);
    expect(await logResults('?generalStatus=UNDELIVERABLE')).toHaveLength(1);
    expect(await logResults('?generalStatus=EXPIRED')).toEqual([]);
    expect((await logResults('?mcc=228')).map((r) => r.to)).toEqual(['41763026721', '41793026720']);
    expect((await logResults('?mcc=228&mnc=02')).map((r) => r.to)).toEqual(['41763026721']);
    expect(await logResults('?limit=2')).toHaveLength(2);
  });

  it('filters by sentSince/sentUntil, reading an unencoded + as the client meant it', async () => {
    await query(['41793026720']);
    const future = formatProviderDate(Date.now() + 3_600_000);
    const past = formatProviderDate(Date.now() - 3_600_000);
    expect(await logResults(`?sentSince=${encodeURIComponent(past)}`)).toHaveLength(1);
    expect(await logResults(`?sentSince=${encodeURIComponent(future)}`)).toHaveLength(0);
    expect(await logResults(`?sentUntil=${encodeURIComponent(past)}`)).toHaveLength(0);
    // `+0000` left unencoded arrives as ` 0000`
    expect(await logResults(`?sentSince=${past}&sentUntil=${future}`)).toHaveLength(1);
  });

  it.each([
    ['an unknown generalStatus', '?generalStatus=LOST', 'generalStatus'],
    ['an unparseable sentSince', '?sentSince=yesterday', 'sentSince'],
    ['an impossible sentUntil', '?sentUntil=2015-02-30T17:42:05.390%2B0100', 'sentUntil'],
    ['a zero limit', '?limit=0', 'limit'],
    ['a limit above 1000', '?limit=1001', 'limit'],
    ['a non-numeric limit', '?limit=ten', 'limit'],
    ['mnc without mcc', '?mnc=01', 'mnc'],
  ])('answers 400 for %s', async (_case, search, field) => {
    const reply = await logs(search);
    expect(reply.status).toBe(400);
    const exception = reply.json<ProviderErrorBody>().requestError?.serviceException;
    expect(exception?.messageId).toBe('BAD_REQUEST');
    expect(Object.keys(exception?.validationErrors ?? {})).toEqual([field]);
  });

  it('accepts limit 1000', async () => {
    expect((await logs('?limit=1000')).status).toBe(200);
  });

  it('throttles at 60 requests per rolling minute with Retry-After, until reset', async () => {
    for (let i = 0; i < 60; i++) expect((await logs()).status).toBe(200);
    const throttled = await logs();
    expect(throttled.status).toBe(429);
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(throttled.json<ProviderErrorBody>().requestError?.serviceException?.messageId).toBe(
      'TOO_MANY_REQUESTS',
    );
    // the limit is per endpoint: lookups go on
    expect((await send(sim.url, '/number/1/query', { body: { to: ['1'] }, apiKey: sim.apiKey })).status).toBe(
      200,
    );
    sim.reset();
    expect((await logs()).status).toBe(200);
  });
});

describe('LookupLog', () => {
  const result = {
    to: '41793026720',
    mccMnc: '22801',
    status: { groupId: 3, groupName: 'DELIVERED', id: 5, name: 'X' },
  };

  it('forgets entries older than 48 hours', () => {
    const log = new LookupLog();
    const sent = Date.UTC(2024, 0, 1);
    log.record('b', [result], ['m'], sent, sent);
    const filter = { limit: 50 };
    expect(log.query(filter, sent + 47 * 3_600_000)).toHaveLength(1);
    expect(log.query(filter, sent + 49 * 3_600_000)).toHaveLength(0);
  });

  it('parses the documented query parameters', () => {
    expect(parseLogsQuery({})).toEqual({ ok: true, filter: { limit: 50 } });
    expect(parseLogsQuery({ bulkId: ['a', 'b'], mcc: ['228'], mnc: ['01'] })).toEqual({
      ok: true,
      filter: { limit: 50, bulkIds: new Set(['a', 'b']), mcc: '228', mnc: '01' },
    });
  });
});

describe('provider dates', () => {
  it('formats as yyyy-MM-ddTHH:mm:ss.SSS+0000', () => {
    expect(formatProviderDate(Date.UTC(2015, 1, 22, 16, 42, 5, 390))).toBe('2015-02-22T16:42:05.390+0000');
  });

  it('parses provider, ISO and space-for-plus offsets', () => {
    const expected = Date.UTC(2015, 1, 22, 16, 42, 5, 390);
    expect(parseProviderDate('2015-02-22T17:42:05.390+0100')).toBe(expected);
    expect(parseProviderDate('2015-02-22T17:42:05.390 0100')).toBe(expected);
    expect(parseProviderDate('2015-02-22T17:42:05.390+01:00')).toBe(expected);
    expect(parseProviderDate('2015-02-22T16:42:05.390Z')).toBe(expected);
    expect(parseProviderDate('2015-02-22T15:42:05.390-0100')).toBe(expected);
    expect(parseProviderDate('2015-02-22T16:42:05')).toBe(expected - 390);
  });

  it.each(['', 'yesterday', '2015-02-22', '2015-13-01T00:00:00.000+0000', '2015-02-22T25:00:00.000+0000'])(
    'refuses %p',
    (text) => {
      expect(parseProviderDate(text)).toBeUndefined();
    },
  );
});
