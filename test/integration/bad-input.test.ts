import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { LookupNumbersDocument, RequestLookupDocument } from '../fixtures/generated/graphql';
import { Harness } from '../helpers/gateway';
import { closedPort } from '../helpers/ports';

/** Both operations that take numbers, typed alike for loops. */
const TAKES_NUMBERS = [LookupNumbersDocument, RequestLookupDocument] as unknown as TypedDocumentNode<
  Record<string, unknown>,
  { to: string[] }
>[];

describe('bad input and provider failures', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it.each([
    ['an empty list', [] as string[], undefined],
    [
      'letters',
      ['41793026727', 'call me'],
      [{ index: 1, input: 'call me', reason: 'contains letters or symbols' }],
    ],
    ['a too-short number', ['4179'], [{ index: 0, input: '4179', reason: 'too short' }]],
    [
      'a too-long number',
      ['4179302672712345'],
      [{ index: 0, input: '4179302672712345', reason: 'too long' }],
    ],
  ])('refuses %s with BAD_USER_INPUT before any provider call', async (_name, to, invalidNumbers) => {
    const gateway = await harness.gateway();
    for (const document of TAKES_NUMBERS) {
      const { status, body } = await gateway.gql(document, { to });
      expect(status).toBe(200);
      expect(body.data).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      if (invalidNumbers) expect(body.errors![0].extensions!.invalidNumbers).toEqual(invalidNumbers);
    }
    expect(gateway.simulator.received).toHaveLength(0);
  });

  it('lists every bad entry of a mixed list in one error, and calls nobody', async () => {
    const gateway = await harness.gateway();
    const { body } = await gateway.gql(LookupNumbersDocument, {
      to: ['+41 79 302 67 27', 'abc', '', '41793026728', '99912345', '0793026727'],
    });
    expect(body.errors).toHaveLength(1);
    const extensions = body.errors![0].extensions as { code: string; invalidNumbers: { index: number }[] };
    expect(extensions.code).toBe('BAD_USER_INPUT');
    expect(extensions.invalidNumbers.map((n) => n.index)).toEqual([1, 2, 4, 5]);
    expect(gateway.simulator.received).toHaveLength(0);
  });

  it('refuses more numbers than the configured maximum', async () => {
    const gateway = await harness.gateway({ MAX_NUMBERS_PER_OPERATION: '2' });
    const { body } = await gateway.gql(LookupNumbersDocument, {
      to: ['41793026727', '41793026728', '41793026729'],
    });
    expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', maxCount: 2, count: 3 });
    expect(gateway.simulator.received).toHaveLength(0);
  });

  it('says UPSTREAM_UNAUTHORIZED when the provider refuses the gateway key (401), leaking no key', async () => {
    const gateway = await harness.gateway();
    gateway.simulator.faults.inject({ kind: 'status', status: 401 }, { endpoint: 'any', times: Infinity });
    for (const document of TAKES_NUMBERS) {
      const { body } = await gateway.gql(document, { to: ['41793026727'] });
      expect(body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED' });
      expect(JSON.stringify(body)).not.toContain(gateway.simulator.apiKey);
      expect(JSON.stringify(body)).not.toMatch(/stack|at .*\.ts:/);
    }
    // Never retried: a refused key does not get better.
    expect(gateway.simulator.received).toHaveLength(2);
  });

  it('says UPSTREAM_UNAVAILABLE when the provider keeps answering 500', async () => {
    const gateway = await harness.gateway({ UPSTREAM_RETRY_BASE_DELAY_MS: '1', UPSTREAM_MAX_ATTEMPTS: '3' });
    gateway.simulator.faults.inject({ kind: 'status', status: 500 }, { endpoint: 'query', times: Infinity });
    const { body } = await gateway.gql(LookupNumbersDocument, { to: ['41793026727'] });
    expect(body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(gateway.simulator.received).toHaveLength(3);
  });

  it('says UPSTREAM_UNAVAILABLE when the provider cannot be reached, for both operations', async () => {
    const port = await closedPort();
    const gateway = await harness.gateway({
      INFOBIP_BASE_URL: `http://127.0.0.1:${port}`,
      INFOBIP_API_KEY: 'secret-provider-key',
      UPSTREAM_RETRY_BASE_DELAY_MS: '1',
    });
    for (const document of TAKES_NUMBERS) {
      const { body } = await gateway.gql(document, { to: ['41793026727'] });
      expect(body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
      const text = JSON.stringify(body);
      expect(text).not.toContain('secret-provider-key');
      expect(text).not.toContain(String(port));
    }
  });
});
