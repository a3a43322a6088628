import { simulateLookup, type ProviderSimulator } from '../../src/simulator';
import type { ProviderResult } from '../../src/upstream/provider-types';
import { RequestLookupDocument } from '../fixtures/generated/graphql';
import type { Harness, TestGateway } from './gateway';
import { cleanUpPrefix, TEST_REDIS_URL, uniquePrefix } from './redis';

/** The two ways the gateway keeps async requests; suites run in both where the behaviour applies. */
export interface StoreMode {
  name: 'in-process' | 'redis';
  redis: boolean;
}

export const STORE_MODES: StoreMode[] = [
  { name: 'in-process', redis: false },
  { name: 'redis', redis: true },
];

/**
 * `count` gateway "instances" sharing one simulator. With Redis: that many gateways sharing Redis under a
 * prefix of their own (`env.REDIS_KEY_PREFIX`, or a fresh one; its keys are deleted afterwards), as behind a
 * load balancer. In process: one gateway, returned `count` times, so the same scenarios run against the
 * single-instance deployment.
 */
export async function startInstances(
  harness: Harness,
  mode: StoreMode,
  count: number,
  simulator: ProviderSimulator,
  env: Record<string, string> = {},
): Promise<TestGateway[]> {
  if (!mode.redis) {
    const gateway = await harness.gateway(env, { simulator });
    return Array.from({ length: count }, () => gateway);
  }
  const prefix = env.REDIS_KEY_PREFIX ?? uniquePrefix(mode.name);
  await cleanUpPrefix(harness, prefix);
  const gateways: TestGateway[] = [];
  for (let i = 0; i < count; i++) {
    gateways.push(
      await harness.gateway({ REDIS_URL: TEST_REDIS_URL, ...env, REDIS_KEY_PREFIX: prefix }, { simulator }),
    );
  }
  return gateways;
}

/** Starts an async lookup on `gateway`; fails the test on GraphQL errors. */
export async function requestLookup(gateway: TestGateway, to: string[]) {
  const { body } = await gateway.gql(RequestLookupDocument, { to });
  expect(body.errors).toBeUndefined();
  return body.data!.requestLookup;
}

/** The notifyUrl the gateway gave the provider for request `id`. */
export async function notifyUrlOf(simulator: ProviderSimulator, id: string): Promise<string> {
  const notify = await simulator.waitForRequest(
    (r) =>
      r.path === '/number/1/notify' &&
      (r.body as { notifyUrl?: string }).notifyUrl?.includes(`/${id}/`) === true,
  );
  return (notify.body as { notifyUrl: string }).notifyUrl;
}

/** The same callback path at another instance's origin: what a load balancer does with the provider's POST. */
export function callbackUrlAt(notifyUrl: string, gateway: TestGateway): string {
  const { pathname } = new URL(notifyUrl);
  return `${gateway.app.publicUrl}${pathname}`;
}

/** A final result as the provider's callback carries it. */
export const finalResult = (to: string, extra: Partial<ProviderResult> = {}): ProviderResult => ({
  ...simulateLookup(to),
  messageId: `m-${to}`,
  ...extra,
});

/** A pending status for `to`, as the notify acknowledgement (and sometimes a callback) carries it. */
export const pendingResult = (to: string): ProviderResult => ({
  to,
  messageId: `m-${to}`,
  status: {
    groupId: 1,
    groupName: 'PENDING',
    id: 3,
    name: 'PENDING_WAITING_DELIVERY',
    description: 'Message sent, waiting for delivery report',
  },
});

/**
 * Re-checks `check` every `intervalMs` until it is true or `ms` passed, for conditions that only an HTTP round
 * trip can observe (polling them on every event-loop turn would flood the gateway).
 */
export async function eventually(
  check: () => Promise<boolean>,
  ms: number,
  what: string,
  intervalMs = 25,
): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
