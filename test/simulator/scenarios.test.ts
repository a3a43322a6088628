import { SCENARIO_BY_LAST_DIGIT, scenarioFor, simulateLookup } from '../../src/simulator';

describe('simulateLookup', () => {
  it('answers the seed number exactly as the provider seed page', () => {
    expect(simulateLookup('41793026727')).toStrictEqual({
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
    });
  });

  it('is deterministic and returns a fresh object each call', () => {
    const a = simulateLookup('41791234560');
    const b = simulateLookup('41791234560');
    expect(a).toStrictEqual(b);
    a.status!.name = 'CHANGED';
    expect(simulateLookup('41791234560').status!.name).toBe('DELIVERED_TO_HANDSET');
  });

  it('chooses the scenario from the last digit', () => {
    expect(SCENARIO_BY_LAST_DIGIT).toEqual([
      'delivered',
      'delivered',
      'delivered',
      'absent-subscriber',
      'ported',
      'roaming',
      'unknown-subscriber',
      'absent-subscriber',
      'rejected-network',
      'rejected-not-registered',
    ]);
    expect(scenarioFor('41791234564')).toBe('ported');
    expect(scenarioFor('41abc')).toBe('invalid-number');
  });

  it('fills every field of a delivered number', () => {
    const r = simulateLookup('41791234560');
    expect(r).toStrictEqual({
      to: '41791234560',
      mccMnc: '22801',
      imsi: expect.stringMatching(/^22801\d{10}$/),
      originalNetwork: {
        networkName: 'Swisscom',
        networkPrefix: '79',
        countryName: 'Switzerland',
        countryPrefix: '41',
        networkId: expect.any(Number),
      },
      ported: false,
      roaming: false,
      servingMSC: expect.stringMatching(/^4179\d+$/),
      status: {
        groupId: 3,
        groupName: 'DELIVERED',
        id: 5,
        name: 'DELIVERED_TO_HANDSET',
        description: 'Message delivered to handset',
      },
      error: {
        groupId: 0,
        groupName: 'OK',
        id: 0,
        name: 'NO_ERROR',
        description: 'No Error',
        permanent: false,
      },
    });
  });

  it('gives other absent subscribers the seed status and error with full network data', () => {
    const r = simulateLookup('41761234563');
    expect(r.status).toMatchObject({ groupId: 2, id: 9, name: 'UNDELIVERABLE_NOT_DELIVERED' });
    expect(r.error).toMatchObject({ groupId: 1, id: 27, name: 'EC_ABSENT_SUBSCRIBER', permanent: false });
    expect(r.originalNetwork).toMatchObject({ networkName: 'Sunrise', networkPrefix: '76' });
    expect(r.mccMnc).toBe('22802');
    expect(r.imsi).toMatch(/^22802\d{10}$/);
    expect(r.servingMSC).toBeUndefined();
  });

  it('reports a ported number with its new network', () => {
    const r = simulateLookup('41791234564');
    expect(r.ported).toBe(true);
    expect(r.roaming).toBe(false);
    expect(r.originalNetwork).toMatchObject({ networkName: 'Swisscom', networkPrefix: '79' });
    expect(r.portedNetwork).toMatchObject({
      networkName: 'Sunrise',
      networkPrefix: '76',
      countryName: 'Switzerland',
      countryPrefix: '41',
      networkId: expect.any(Number),
    });
    expect(r.mccMnc).toBe('22802');
    expect(r.imsi).toMatch(/^22802\d{10}$/);
    expect(r.status?.name).toBe('DELIVERED_TO_HANDSET');
  });

  it('reports a roaming number with the visited network and a foreign MSC', () => {
    const r = simulateLookup('41781234565');
    expect(r.roaming).toBe(true);
    expect(r.ported).toBe(false);
    expect(r.mccMnc).toBe('22803');
    expect(r.originalNetwork?.networkName).toBe('Salt');
    expect(r.roamingNetwork).toMatchObject({ countryName: 'Germany', countryPrefix: '49' });
    expect(r.servingMSC).toMatch(/^49/);
    expect(r.status?.groupName).toBe('DELIVERED');
  });

  it('reports an unknown subscriber as permanent', () => {
    const r = simulateLookup('385981234566');
    expect(r.status).toMatchObject({ groupId: 2, groupName: 'UNDELIVERABLE', id: 9 });
    expect(r.error).toStrictEqual({
      groupId: 1,
      groupName: 'HANDSET_ERRORS',
      id: 1,
      name: 'EC_UNKNOWN_SUBSCRIBER',
      description: 'Unknown Subscriber',
      permanent: true,
    });
    expect(r.originalNetwork).toMatchObject({ networkName: 'Hrvatski Telekom', countryName: 'Croatia' });
    expect(r.imsi).toBeUndefined();
  });

  it('reports rejected numbers in the REJECTED group', () => {
    expect(simulateLookup('491511234568').status).toMatchObject({
      groupId: 5,
      groupName: 'REJECTED',
      id: 6,
      name: 'REJECTED_NETWORK',
    });
    expect(simulateLookup('447712345679').status).toMatchObject({
      groupId: 5,
      groupName: 'REJECTED',
      id: 18,
      name: 'REJECTED_DESTINATION_NOT_REGISTERED',
    });
    expect(simulateLookup('447712345679').originalNetwork?.networkName).toBe('Vodafone UK');
  });

  it.each(['abc', '', '+41793026720', '4179 302 6720', '999123456', '4'])(
    'rejects %p as REJECTED_PREFIX_MISSING with EC_INVALID_DESTINATION_ADDRESS',
    (to) => {
      expect(simulateLookup(to)).toStrictEqual({
        to,
        status: {
          groupId: 5,
          groupName: 'REJECTED',
          id: 8,
          name: 'REJECTED_PREFIX_MISSING',
          description: 'Number prefix missing',
        },
        error: {
          groupId: 2,
          groupName: 'USER_ERRORS',
          id: 351,
          name: 'EC_INVALID_DESTINATION_ADDRESS',
          description: 'Invalid destination address',
          permanent: true,
        },
      });
    },
  );

  it('covers the network table and a generic fallback country', () => {
    expect(simulateLookup('4915112345670').originalNetwork?.networkName).toBe('Telekom Deutschland');
    expect(simulateLookup('4915212345670').mccMnc).toBe('26202');
    expect(simulateLookup('385911234560').mccMnc).toBe('21910');
    expect(simulateLookup('14155550130').mccMnc).toMatch(/^31\d{4}$/);
    expect(simulateLookup('14155550130').originalNetwork).toMatchObject({
      networkPrefix: '415',
      countryPrefix: '1',
    });
    const fr = simulateLookup('33612345670');
    expect(fr.mccMnc).toMatch(/^208\d{2}$/);
    expect(fr.originalNetwork).toMatchObject({ countryName: 'France', countryPrefix: '33' });
  });

  it('clips numbers longer than 256 characters', () => {
    expect(simulateLookup('4'.repeat(300)).to).toHaveLength(256);
  });
});
