import { isFinalResult, toLookupResult } from '../../src/lookup/lookup-result';
import type { ProviderResult } from '../../src/upstream/provider-types';

const STATUS = { groupId: 3, groupName: 'DELIVERED', id: 5, name: 'DELIVERED_TO_HANDSET', description: 'ok' };
const ERROR = {
  groupId: 0,
  groupName: 'OK',
  id: 0,
  name: 'NO_ERROR',
  description: 'No Error',
  permanent: false,
};

describe('toLookupResult', () => {
  it('maps every documented field, servingMSC to servingMsc, and drops unknown ones', () => {
    const network = {
      networkName: 'Swisscom',
      networkPrefix: '79',
      countryName: 'Switzerland',
      networkId: 1,
    };
    const result = {
      to: '41793026727',
      messageId: 'm-1',
      mccMnc: '22801',
      imsi: '228011234567890',
      originalNetwork: network,
      ported: true,
      portedNetwork: { ...network, networkName: 'Salt' },
      roaming: true,
      roamingNetwork: { ...network, networkName: 'Vodafone', countryPrefix: '49' },
      servingMSC: '41794990000',
      status: { ...STATUS, action: 'none' },
      error: ERROR,
      newField: 'x',
    } as unknown as ProviderResult;

    const { servingMSC, newField: _newField, ...rest } = result as unknown as Record<string, unknown>;
    expect(toLookupResult(result)).toEqual({ ...rest, servingMsc: servingMSC });
  });

  it('drops known fields of the wrong type instead of failing', () => {
    const mapped = toLookupResult({
      to: '1',
      ported: 'no',
      mccMnc: 22801,
      originalNetwork: { networkName: 'X', networkId: 'one' },
      portedNetwork: { networkId: 2 ** 40 },
      roamingNetwork: 'none',
      status: { ...STATUS, groupName: null },
      error: { ...ERROR, permanent: 'yes' },
    } as unknown as ProviderResult);

    expect(mapped).toEqual({
      to: '1',
      originalNetwork: { networkName: 'X' },
      error: { groupId: 0, groupName: 'OK', id: 0, name: 'NO_ERROR', description: 'No Error' },
    });
    expect('ported' in mapped).toBe(false);
    expect('permanent' in (mapped.error ?? {})).toBe(false);
  });

  it('reports the number as asked for when the provider reformatted it', () => {
    expect(toLookupResult({ to: '+41 79 302 67 27' }, '41793026727')).toEqual({ to: '41793026727' });
  });
});

describe('isFinalResult', () => {
  it('treats the PENDING group as not final, whatever its spelling, and everything else as final', () => {
    const pending = { groupId: 1, groupName: 'PENDING', id: 3, name: 'PENDING_WAITING_DELIVERY' };
    expect(isFinalResult({ to: '1', status: pending })).toBe(false);
    expect(isFinalResult({ to: '1', status: { ...pending, groupId: 9, groupName: 'pending' } })).toBe(false);
    expect(isFinalResult({ to: '1', status: STATUS })).toBe(true);
    expect(isFinalResult({ to: '1' })).toBe(true);
  });
});
