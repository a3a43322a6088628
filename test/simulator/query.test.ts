import { startProviderSimulator, simulateLookup, type ProviderSimulator } from '../../src/simulator';
import type { ProviderErrorBody, ProviderResultsResponse } from '../../src/upstream/provider-types';
import { send } from './helpers';

let sim: ProviderSimulator;

beforeEach(async () => {
  sim = await startProviderSimulator();
});

afterEach(async () => {
  await sim.dispose();
});

const query = (body: unknown, apiKey = sim.apiKey) => send(sim.url, '/number/1/query', { body, apiKey });

describe('POST /number/1/query', () => {
  it('answers the seed number with exactly the seed result', async () => {
    const reply = await query({ to: ['41793026727'] });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.json()).toStrictEqual({
      bulkId: expect.any(String),
      results: [
        {
          to: '41793026727',
          mccMnc: '22801',
          originalNetwork: { networkPrefix: '79', countryPrefix: '41' },
          ported: false,
          roaming: false,
          status: {
            groupId: 2,
            groupName: 'UNDELIVERABLE',
            id: 9,
            name: 'UNDELIVERABLE_NOT_DELIVERED',
            description: 'Message sent not delivered',
          },
          error: {
            groupId: 1,
            groupName: 'HANDSET_ERRORS',
            id: 27,
            name: 'EC_ABSENT_SUBSCRIBER',
            description: 'Absent Subscriber',
            permanent: false,
          },
        },
      ],
    });
  });

  it('answers one final result per number, in order, equal to simulateLookup', async () => {
    const to = Array.from({ length: 10 }, (_, d) => `4179302672${d}`).concat(['abc', '41793026727']);
    const reply = await query({ to });
    const body = reply.json<ProviderResultsResponse>();
    expect(body.results.map((r) => r.to)).toEqual(to);
    expect(body.results).toEqual(to.map((n) => simulateLookup(n)));
  });

  it('accepts exactly 1000 numbers and refuses 1001', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `4179${String(i).padStart(7, '0')}`);
    const ok = await query({ to: many(1_000) });
    expect(ok.status).toBe(200);
    expect(ok.json<ProviderResultsResponse>().results).toHaveLength(1_000);
    const tooMany = await query({ to: many(1_001) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json<ProviderErrorBody>().requestError?.serviceException).toMatchObject({
      messageId: 'BAD_REQUEST',
      validationErrors: { to: expect.any(Array) },
    });
  });

  it('clips numbers longer than 256 characters', async () => {
    const reply = await query({ to: ['4'.repeat(300)] });
    expect(reply.json<ProviderResultsResponse>().results[0].to).toBe('4'.repeat(256));
  });

  it.each([
    ['a non-JSON body', 'to=41793026727'],
    ['a missing to', { numbers: ['41793026727'] }],
    ['a to that is not an array', { to: '41793026727' }],
    ['a to with a non-string', { to: ['41793026727', 41793026728] }],
    ['an empty to', { to: [] }],
    ['a JSON array body', ['41793026727']],
  ])('answers 400 BAD_REQUEST for %s', async (_case, body) => {
    const reply = await query(body);
    expect(reply.status).toBe(400);
    const exception = reply.json<ProviderErrorBody>().requestError?.serviceException;
    expect(exception?.messageId).toBe('BAD_REQUEST');
    expect(exception?.validationErrors).toEqual(expect.any(Object));
  });
});

describe('authentication', () => {
  const unauthorized = {
    requestError: { serviceException: { messageId: 'UNAUTHORIZED', text: 'Invalid login details' } },
  };

  it.each([
    ['no header', undefined],
    ['a wrong key', 'App wrong-key'],
    ['Basic credentials', 'Basic dXNlcjpwYXNz'],
    ['a bare key', 'simulator-key'],
  ])('answers 401 for %s, and records the request', async (_case, authorization) => {
    const headers: Record<string, string> = authorization ? { authorization } : {};
    const reply = await send(sim.url, '/number/1/query', { body: { to: ['41793026727'] }, headers });
    expect(reply.status).toBe(401);
    expect(reply.json()).toStrictEqual(unauthorized);
    expect(sim.received).toHaveLength(1);
    expect(sim.received[0]).toMatchObject({ method: 'POST', path: '/number/1/query' });
  });

  it('accepts App and Bearer with the configured key', async () => {
    const custom = await startProviderSimulator({ apiKey: 'k-123' });
    try {
      for (const authorization of ['App k-123', 'Bearer k-123', 'app k-123']) {
        const reply = await send(custom.url, '/number/1/query', {
          body: { to: ['41793026727'] },
          headers: { authorization },
        });
        expect(reply.status).toBe(200);
      }
      expect(custom.apiKey).toBe('k-123');
    } finally {
      await custom.dispose();
    }
  });

  it('checks auth before routing, validation and method', async () => {
    expect((await send(sim.url, '/number/9/nothing', { body: {} })).status).toBe(401);
    expect((await send(sim.url, '/number/1/query', { method: 'GET' })).status).toBe(401);
    expect((await send(sim.url, '/number/1/query', { body: 'not json' })).status).toBe(401);
  });
});

describe('routing', () => {
  it('answers 404 in provider shape for unknown paths', async () => {
    const inside = await send(sim.url, '/number/9/nothing', { apiKey: sim.apiKey });
    expect(inside.status).toBe(404);
    expect(inside.json<ProviderErrorBody>().requestError?.serviceException?.messageId).toBe('NOT_FOUND');
    const outside = await send(sim.url, '/elsewhere');
    expect(outside.status).toBe(404);
    expect(sim.received.map((r) => r.path)).toEqual(['/number/9/nothing']);
  });

  it('answers 405 with Allow for a wrong method', async () => {
    const reply = await send(sim.url, '/number/1/query', { method: 'GET', apiKey: sim.apiKey });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('POST');
    const logs = await send(sim.url, '/number/1/logs', { method: 'POST', body: {}, apiKey: sim.apiKey });
    expect(logs.status).toBe(405);
    expect(logs.headers.allow).toBe('GET');
  });
});

describe('recording', () => {
  it('records method, path, query, headers and parsed body in arrival order', async () => {
    await query({ to: ['41793026720'] });
    await send(sim.url, '/number/1/logs?bulkId=a&bulkId=b&limit=5', { apiKey: sim.apiKey });
    await send(sim.url, '/number/1/query', { body: 'not json', apiKey: sim.apiKey });
    expect(sim.received).toHaveLength(3);
    expect(sim.received[0]).toMatchObject({
      method: 'POST',
      path: '/number/1/query',
      query: {},
      body: { to: ['41793026720'] },
      headers: expect.objectContaining({ authorization: 'App simulator-key' }),
      at: expect.any(Number),
    });
    expect(sim.received[1]).toMatchObject({
      method: 'GET',
      path: '/number/1/logs',
      query: { bulkId: ['a', 'b'], limit: ['5'] },
      body: undefined,
    });
    expect(sim.received[2].body).toBe('not json');
  });

  it('waitForRequest resolves with past and future requests and rejects after its deadline', async () => {
    await query({ to: ['41793026720'] });
    await expect(sim.waitForRequest()).resolves.toMatchObject({ path: '/number/1/query' });
    const future = sim.waitForRequest((r) => r.path === '/number/1/logs');
    await send(sim.url, '/number/1/logs', { apiKey: sim.apiKey });
    await expect(future).resolves.toMatchObject({ method: 'GET' });
    await expect(sim.waitForRequest((r) => r.method === 'DELETE', 20)).rejects.toThrow(/within 20 ms/);
  });

  it('applies latencyMs (and setOptions changes it)', async () => {
    sim.setOptions({ latencyMs: 120 });
    const started = Date.now();
    expect((await query({ to: ['41793026720'] })).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(() => sim.setOptions({ latencyMs: -1 })).toThrow(RangeError);
  });
});

describe('limits', () => {
  it('answers 413 for a body above 4 MiB', async () => {
    const reply = await query({ to: ['1'.repeat(5 * 1_024 * 1_024)] });
    expect(reply.status).toBe(413);
  });
});
