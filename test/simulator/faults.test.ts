import http from 'node:http';
import { startProviderSimulator, type Fault, type ProviderSimulator } from '../../src/simulator';
import type { ProviderErrorBody } from '../../src/upstream/provider-types';
import { send, startReceiver } from './helpers';

let sim: ProviderSimulator;

beforeEach(async () => {
  sim = await startProviderSimulator({ callbackDelayMs: 0 });
});

afterEach(async () => {
  await sim.dispose();
});

const query = () => send(sim.url, '/number/1/query', { body: { to: ['41793026720'] }, apiKey: sim.apiKey });
const messageIdOf = (text: string) =>
  (JSON.parse(text) as ProviderErrorBody).requestError?.serviceException?.messageId;

describe('status faults', () => {
  it.each([
    [400, 'BAD_REQUEST'],
    [401, 'UNAUTHORIZED'],
    [403, 'FORBIDDEN'],
    [429, 'TOO_MANY_REQUESTS'],
    [500, 'GENERAL_ERROR'],
  ])('answers %i with the provider error %s by default', async (status, messageId) => {
    sim.faults.inject({ kind: 'status', status });
    const reply = await query();
    expect(reply.status).toBe(status);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(messageIdOf(reply.text)).toBe(messageId);
  });

  it.each([502, 503, 504])('answers %i with a plain-text body by default', async (status) => {
    sim.faults.inject({ kind: 'status', status });
    const reply = await query();
    expect(reply.status).toBe(status);
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    expect(() => JSON.parse(reply.text)).toThrow();
  });

  it('sends a given body and Retry-After', async () => {
    const body = {
      requestError: { serviceException: { messageId: 'TOO_MANY_REQUESTS', text: 'slow down' } },
    };
    sim.faults.inject({ kind: 'status', status: 429, body, retryAfter: '7' });
    const reply = await query();
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('7');
    expect(reply.json()).toEqual(body);
  });

  it('is consumed FIFO, `times` at a time, and only by its endpoint', async () => {
    sim.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'logs' });
    sim.faults.inject({ kind: 'status', status: 500 }, { endpoint: 'query', times: 2 });
    sim.faults.inject({ kind: 'status', status: 403 }, { endpoint: 'query' });
    expect((await query()).status).toBe(500);
    expect((await query()).status).toBe(500);
    expect((await query()).status).toBe(403);
    expect((await query()).status).toBe(200);
    expect((await send(sim.url, '/number/1/logs', { apiKey: sim.apiKey })).status).toBe(503);
  });

  it('repeats forever with times: Infinity, until clear()', async () => {
    sim.faults.inject({ kind: 'status', status: 503 }, { times: Infinity });
    for (let i = 0; i < 3; i++) expect((await query()).status).toBe(503);
    sim.faults.clear();
    expect((await query()).status).toBe(200);
  });

  it('comes before auth, like a proxy would', async () => {
    sim.faults.inject({ kind: 'status', status: 502 });
    const reply = await send(sim.url, '/number/1/query', { body: { to: ['41793026720'] } });
    expect(reply.status).toBe(502);
  });

  it('on notify, sends no callback', async () => {
    const receiver = await startReceiver();
    try {
      sim.faults.inject({ kind: 'status', status: 500 }, { endpoint: 'notify' });
      const reply = await send(sim.url, '/number/1/notify', {
        body: { to: ['41793026720'], notifyUrl: receiver.url },
        apiKey: sim.apiKey,
      });
      expect(reply.status).toBe(500);
      await sim.idle();
      expect(sim.callbacks).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('refuses malformed faults', () => {
    expect(() => sim.faults.inject({ kind: 'boom' } as unknown as Fault)).toThrow(TypeError);
    expect(() => sim.faults.inject({ kind: 'status', status: 99 })).toThrow(RangeError);
    expect(() => sim.faults.inject({ kind: 'latency', ms: -5 })).toThrow(RangeError);
    expect(() => sim.faults.inject({ kind: 'drop' }, { times: 0 })).toThrow(RangeError);
    expect(() => sim.faults.callbacks({ delayMs: -1 })).toThrow(RangeError);
  });
});

describe('transport faults', () => {
  it('latency delays the answer, then answers normally', async () => {
    sim.faults.inject({ kind: 'latency', ms: 150 });
    const started = Date.now();
    const reply = await query();
    expect(reply.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('truncated sends a complete 200 JSON response holding half of the real body', async () => {
    const full = await query();
    sim.faults.inject({ kind: 'truncated' });
    const reply = await query();
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.text.length).toBeGreaterThan(0);
    // same length bulkIds, so the halves are the same size
    expect(reply.text.length).toBe(Math.floor(full.text.length / 2));
    expect(reply.text).toMatch(/^\{"bulkId":"[^"]+","results":\[\{"to":"41793026720"/);
    expect(() => JSON.parse(reply.text)).toThrow(SyntaxError);
  });

  it('non-json answers 200 with an HTML page', async () => {
    sim.faults.inject({ kind: 'non-json' });
    const reply = await query();
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/html/);
    expect(reply.text).toMatch(/^<!DOCTYPE html>/);
  });

  it('drop destroys the socket without an answer', async () => {
    sim.faults.inject({ kind: 'drop' });
    await expect(query()).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect((await query()).status).toBe(200);
  });

  it('stall-after-headers sends 200 headers and no body until dispose', async () => {
    sim.faults.inject({ kind: 'stall-after-headers' });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${sim.url}/number/1/query`, {
        method: 'POST',
        agent: false,
        headers: { authorization: `App ${sim.apiKey}`, 'content-type': 'application/json' },
      });
      req.on('response', resolve);
      req.on('error', reject);
      req.end(JSON.stringify({ to: ['41793026720'] }));
    });
    expect(res.statusCode).toBe(200);
    let bytes = 0;
    res.on('data', (c: Buffer) => (bytes += c.length));
    res.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
    await sim.dispose();
    await closed;
    expect(res.complete).toBe(false);
    expect(bytes).toBe(0);
  });
});
