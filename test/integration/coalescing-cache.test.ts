import { simulateLookup, type ProviderSimulator } from '../../src/simulator';
import type { ProviderNetwork, ProviderResult } from '../../src/upstream/provider-types';
import { LookupNumbersDocument, type LookupNumbersQuery } from '../fixtures/generated/graphql';
import { until } from '../helpers/deadline';
import { Harness, type TestGateway } from '../helpers/gateway';

type Result = LookupNumbersQuery['lookupNumbers'][number];

const A = '41793026720';
const B = '41793026724';
const C = '41793026725';
const D = '41793026726';

/** The provider's answer for `to`, as the ResultFields fragment shows it: what every served result must equal. */
function providerAnswer(to: string): Result {
  const r: ProviderResult = simulateLookup(to);
  const network = (n: ProviderNetwork | undefined) =>
    n
      ? {
          networkName: n.networkName ?? null,
          networkPrefix: n.networkPrefix ?? null,
          countryName: n.countryName ?? null,
          countryPrefix: n.countryPrefix ?? null,
          networkId: n.networkId ?? null,
        }
      : null;
  return {
    to,
    messageId: null,
    mccMnc: r.mccMnc ?? null,
    imsi: r.imsi ?? null,
    originalNetwork: network(r.originalNetwork),
    ported: r.ported ?? null,
    portedNetwork: network(r.portedNetwork),
    roaming: r.roaming ?? null,
    roamingNetwork: network(r.roamingNetwork),
    servingMsc: r.servingMSC ?? null,
    status: r.status
      ? {
          groupId: r.status.groupId,
          groupName: r.status.groupName,
          id: r.status.id,
          name: r.status.name,
          description: r.status.description ?? null,
          action: r.status.action ?? null,
        }
      : null,
    error: r.error
      ? {
          groupId: r.error.groupId,
          groupName: r.error.groupName,
          id: r.error.id,
          name: r.error.name,
          description: r.error.description ?? null,
          permanent: r.error.permanent ?? null,
        }
      : null,
  } as Result;
}

function queries(simulator: ProviderSimulator) {
  return simulator.received.filter((r) => r.path === '/number/1/query');
}

/** `gateway_lookup_numbers_saved_total{how}` from /metrics. */
async function saved(gateway: TestGateway, how: 'cache' | 'coalesced'): Promise<number> {
  const text = await (await fetch(`${gateway.app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`gateway_lookup_numbers_saved_total{how="${how}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('no wasted lookups (coalescing and the result cache), through the gateway', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  describe('in-flight coalescing', () => {
    it('lets concurrent operations for the same numbers share one provider call', async () => {
      const gateway = await harness.gateway();
      // The first call is held at the simulator long enough for the others to arrive while it is in flight.
      gateway.simulator.faults.inject({ kind: 'latency', ms: 500 }, { endpoint: 'query' });
      const first = gateway.gql(LookupNumbersDocument, { to: [A, B, C] });
      await gateway.simulator.waitForRequest((r) => r.path === '/number/1/query');
      const others = await Promise.all([
        gateway.gql(LookupNumbersDocument, { to: [C, B, A] }),
        gateway.gql(LookupNumbersDocument, { to: ['+41 79 302 67 24', A] }),
      ]);
      const all = [await first, ...others];

      expect(queries(gateway.simulator)).toHaveLength(1);
      expect(queries(gateway.simulator)[0].body).toEqual({ to: [A, B, C] });
      for (const { body } of all) expect(body.errors).toBeUndefined();
      expect(all[0].body.data!.lookupNumbers).toEqual([A, B, C].map(providerAnswer));
      expect(all[1].body.data!.lookupNumbers).toEqual([C, B, A].map(providerAnswer));
      expect(all[2].body.data!.lookupNumbers).toEqual([B, A].map(providerAnswer));
      expect(await saved(gateway, 'coalesced')).toBe(5);
    });

    it('sends only the numbers that are not already in flight', async () => {
      const gateway = await harness.gateway();
      gateway.simulator.faults.inject({ kind: 'latency', ms: 500 }, { endpoint: 'query' });
      const first = gateway.gql(LookupNumbersDocument, { to: [A, B] });
      await gateway.simulator.waitForRequest((r) => r.path === '/number/1/query');
      const second = await gateway.gql(LookupNumbersDocument, { to: [B, D] });

      expect(queries(gateway.simulator).map((r) => r.body)).toEqual([{ to: [A, B] }, { to: [D] }]);
      expect(second.body.data!.lookupNumbers).toEqual([B, D].map(providerAnswer));
      expect((await first).body.data!.lookupNumbers).toEqual([A, B].map(providerAnswer));
    });

    it('sends a number typed several ways in one request once, answering every entry', async () => {
      const gateway = await harness.gateway();
      const to = [A, '+41 79 302 67 20', B, '0041 79 302 67 20', B];

      const { body } = await gateway.gql(LookupNumbersDocument, { to });

      expect(queries(gateway.simulator).map((r) => r.body)).toEqual([{ to: [A, B] }]);
      expect(body.data!.lookupNumbers).toEqual([A, A, B, A, B].map(providerAnswer));
    });

    it('fails every operation sharing a failed call with the same code, and does not cache the failure', async () => {
      const gateway = await harness.gateway({ UPSTREAM_MAX_ATTEMPTS: '1', CACHE_TTL_MS: '60000' });
      gateway.simulator.setOptions({ latencyMs: 500 });
      gateway.simulator.faults.inject({ kind: 'status', status: 503 }, { endpoint: 'query' });
      const first = gateway.gql(LookupNumbersDocument, { to: [A, B] });
      await gateway.simulator.waitForRequest((r) => r.path === '/number/1/query');
      const second = gateway.gql(LookupNumbersDocument, { to: [B, A] });
      const results = await Promise.all([first, second]);

      for (const { body } of results) {
        expect(body.data).toBeNull();
        expect(body.errors!.map((e) => e.extensions?.code)).toEqual(['UPSTREAM_UNAVAILABLE']);
      }
      expect(queries(gateway.simulator)).toHaveLength(1);

      gateway.simulator.setOptions({ latencyMs: 0 });
      const retry = await gateway.gql(LookupNumbersDocument, { to: [A, B] });
      expect(retry.body.data!.lookupNumbers).toEqual([A, B].map(providerAnswer));
      expect(queries(gateway.simulator)).toHaveLength(2);
    });
  });

  describe('result cache', () => {
    it('is off by default: a repeat is a new provider call', async () => {
      const gateway = await harness.gateway();
      await gateway.gql(LookupNumbersDocument, { to: [A] });
      await gateway.gql(LookupNumbersDocument, { to: [A] });
      expect(queries(gateway.simulator)).toHaveLength(2);
      expect(await saved(gateway, 'cache')).toBe(0);
    });

    it('with CACHE_TTL_MS, serves a repeat without a provider call, and calls again once the TTL has passed', async () => {
      const ttlMs = 1_000;
      const gateway = await harness.gateway({ CACHE_TTL_MS: String(ttlMs) });
      const first = await gateway.gql(LookupNumbersDocument, { to: [A, B] });
      // The gateway sent the call no later than the simulator saw it: the TTL runs from then at the latest.
      const sentAt = queries(gateway.simulator)[0].at;

      const repeat = await gateway.gql(LookupNumbersDocument, { to: [B, C, A] });
      expect(Date.now() - sentAt).toBeLessThan(ttlMs);
      expect(queries(gateway.simulator).map((r) => r.body)).toEqual([{ to: [A, B] }, { to: [C] }]);
      expect(first.body.data!.lookupNumbers).toEqual([A, B].map(providerAnswer));
      expect(repeat.body.data!.lookupNumbers).toEqual([B, C, A].map(providerAnswer));
      expect(await saved(gateway, 'cache')).toBe(2);

      await until(() => Date.now() > sentAt + ttlMs + 5, 5_000, 'the cache TTL to pass');
      const afterTtl = await gateway.gql(LookupNumbersDocument, { to: [A] });
      expect(afterTtl.body.data!.lookupNumbers).toEqual([providerAnswer(A)]);
      expect(queries(gateway.simulator).map((r) => r.body)).toEqual([
        { to: [A, B] },
        { to: [C] },
        { to: [A] },
      ]);
    });
  });
});
