import { simulateLookup } from '../../src/simulator';
import { LookupNumbersDocument } from '../fixtures/generated/graphql';
import { Harness } from '../helpers/gateway';

const SEED_NUMBERS = ['41793026727', '41793026728', '41793026729'];

describe('lookupNumbers (sync, provider POST /number/1/query)', () => {
  const harness = new Harness();
  afterEach(() => harness.dispose());

  it("returns the seed's three numbers in input order, every field mapped, with one provider call", async () => {
    const gateway = await harness.gateway();
    const { status, body } = await gateway.gql(LookupNumbersDocument, { to: SEED_NUMBERS });

    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const results = body.data!.lookupNumbers;
    expect(results.map((r) => r.to)).toEqual(SEED_NUMBERS);
    // Exactly the seed page's result for its first number.
    expect(results[0]).toEqual({
      to: '41793026727',
      messageId: null,
      mccMnc: '22801',
      imsi: null,
      originalNetwork: {
        networkName: null,
        networkPrefix: '79',
        countryName: null,
        countryPrefix: '41',
        networkId: null,
      },
      ported: false,
      portedNetwork: null,
      roaming: false,
      roamingNetwork: null,
      servingMsc: null,
      status: {
        groupId: 2,
        groupName: 'UNDELIVERABLE',
        id: 9,
        name: 'UNDELIVERABLE_NOT_DELIVERED',
        description: 'Message sent not delivered',
        action: null,
      },
      error: {
        groupId: 1,
        groupName: 'HANDSET_ERRORS',
        id: 27,
        name: 'EC_ABSENT_SUBSCRIBER',
        description: 'Absent Subscriber',
        permanent: false,
      },
    });

    const calls = gateway.simulator.received;
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'POST', path: '/number/1/query', body: { to: SEED_NUMBERS } });
    expect(calls[0].headers.authorization).toBe(`App ${gateway.simulator.apiKey}`);
    expect(calls[0].headers['content-type']).toMatch(/^application\/json/);
  });

  it('maps every provider field, including servingMSC, imsi and ported/roaming networks', async () => {
    const gateway = await harness.gateway();
    // One number per simulator scenario: each last digit picks one.
    const numbers = Array.from({ length: 10 }, (_, d) => `4179302670${d}`);
    const { body } = await gateway.gql(LookupNumbersDocument, { to: numbers });
    expect(body.errors).toBeUndefined();
    const results = body.data!.lookupNumbers;
    for (const [i, result] of results.entries()) {
      const expected = simulateLookup(numbers[i]);
      expect(result.to).toBe(expected.to);
      expect(result.mccMnc ?? undefined).toBe(expected.mccMnc);
      expect(result.imsi ?? undefined).toBe(expected.imsi);
      expect(result.servingMsc ?? undefined).toBe(expected.servingMSC);
      expect(result.ported ?? undefined).toBe(expected.ported);
      expect(result.roaming ?? undefined).toBe(expected.roaming);
      expect(result.portedNetwork?.networkName ?? undefined).toBe(expected.portedNetwork?.networkName);
      expect(result.roamingNetwork?.networkName ?? undefined).toBe(expected.roamingNetwork?.networkName);
      expect(result.status?.name).toBe(expected.status?.name);
      expect(result.error?.name).toBe(expected.error?.name);
    }
    expect(results.some((r) => r.ported && r.portedNetwork)).toBe(true);
    expect(results.some((r) => r.roaming && r.roamingNetwork)).toBe(true);
    expect(results.some((r) => r.servingMsc && r.imsi)).toBe(true);
  });

  it('normalizes what people type and looks each distinct number up once, answering per entry', async () => {
    const gateway = await harness.gateway();
    const inputs = ['+41 79 302 67 27', '0041793026727', '41-79-302-67-27', '(41) 793026727', '41793026728'];
    const { body } = await gateway.gql(LookupNumbersDocument, { to: inputs });
    expect(body.errors).toBeUndefined();
    expect(body.data!.lookupNumbers.map((r) => r.to)).toEqual([
      '41793026727',
      '41793026727',
      '41793026727',
      '41793026727',
      '41793026728',
    ]);
    expect(gateway.simulator.received).toHaveLength(1);
    expect(gateway.simulator.received[0].body).toEqual({ to: ['41793026727', '41793026728'] });
  });
});
