import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { toLookupResult } from '../../src/lookup/lookup-result';
import type { ProviderResultsResponse } from '../../src/upstream/provider-types';

/** A running {@link startMinimalProxy}. */
export interface MinimalProxy {
  readonly url: string;
  dispose(): Promise<void>;
}

/**
 * The benchmark's yardstick: the least a hand-written Node service must do for a sync lookup. POST JSON
 * `{to: [...]}` → strip to digits and de-duplicate → provider `POST /number/1/query` over a keep-alive undici pool
 * → map each result to the gateway's shape (the gateway's own `toLookupResult`) in input order → JSON
 * `{data: {lookupNumbers: [...]}}`. No GraphQL, no validation beyond shape, no retries, no logging.
 */
export async function startMinimalProxy(options: {
  upstreamUrl: string;
  apiKey: string;
  /** Keep-alive connections to the provider: the gateway's default, so both have the same pool. */
  connections?: number;
}): Promise<MinimalProxy> {
  const pool = new Pool(options.upstreamUrl, {
    connections: options.connections ?? 32,
    keepAliveTimeout: 4_000,
  });
  const headers = {
    authorization: `App ${options.apiKey}`,
    'content-type': 'application/json',
    accept: 'application/json',
  };
  const reply = (res: http.ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle = async (raw: string, res: http.ServerResponse) => {
    const to = (JSON.parse(raw) as { to?: unknown }).to;
    if (
      !Array.isArray(to) ||
      to.length === 0 ||
      to.length > 1_000 ||
      !to.every((n) => typeof n === 'string')
    ) {
      reply(res, 400, '{"errors":[{"message":"to must be 1 to 1000 strings"}]}');
      return;
    }
    const numbers = (to as string[]).map((n) => n.replace(/\D+/g, ''));
    const unique = [...new Set(numbers)];
    const upstream = await pool.request({
      method: 'POST',
      path: '/number/1/query',
      headers,
      body: JSON.stringify({ to: unique }),
    });
    const body = (await upstream.body.json()) as ProviderResultsResponse;
    if (upstream.statusCode !== 200) {
      reply(res, 502, '{"errors":[{"message":"provider failed"}]}');
      return;
    }
    const byTo = new Map(body.results.map((r) => [r.to, r]));
    const results = numbers.map((n) => {
      const result = byTo.get(n);
      return result ? toLookupResult(result, n) : { to: n };
    });
    reply(res, 200, JSON.stringify({ data: { lookupNumbers: results } }));
  };

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      reply(res, 405, '{"errors":[{"message":"POST only"}]}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      handle(Buffer.concat(chunks).toString('utf8'), res).catch(() => reply(res, 500, '{"errors":[{}]}'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async dispose() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}
