import { isPendingStatus, toLookupResult, withMessageIds } from '../../src/lookup/lookup-result';
import type { ProviderResult } from '../../src/upstream/provider-types';
import { DELIVERED_STATUS, NO_ERROR } from '../helpers/provider-fixtures';

const STATUS = DELIVERED_STATUS;
const ERROR = NO_ERROR;

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

describe('isPendingStatus', () => {
  it('recognises the PENDING group in a raw status the mapping would drop', () => {
    const pending = { groupId: 1, groupName: 'PENDING', id: 3, name: 'PENDING_WAITING_DELIVERY' };
    expect(isPendingStatus(pending)).toBe(true);
    // Each of these is dropped by toLookupResult (wrong types, fields missing), yet plainly pending.
    for (const status of [
      { ...pending, groupId: '1', id: '3' },
      { groupId: ' 1 ', groupName: 'PENDING' },
      { groupId: 1 },
      { groupName: 'Pending' },
      { groupId: 'one', name: 'PENDING_ENROUTE' },
    ]) {
      expect(toLookupResult({ to: '1', status } as unknown as ProviderResult).status).toBeUndefined();
      expect(isPendingStatus(status)).toBe(true);
    }
  });

  it('treats every other group, and no status at all, as not pending', () => {
    expect(isPendingStatus(STATUS)).toBe(false);
    expect(isPendingStatus({ groupId: '3', groupName: 'DELIVERED' })).toBe(false);
    expect(isPendingStatus({ groupId: 11, groupName: 'X' })).toBe(false);
    for (const status of [undefined, null, 'PENDING', 1, ['PENDING'], {}])
      expect(isPendingStatus(status)).toBe(false);
  });
});

describe('withMessageIds', () => {
  it("fills a missing messageId by number and keeps a result's own", () => {
    const results = [{ to: 'a' }, { to: 'b', messageId: 'own' }, { to: 'c', messageId: null }, { to: 'd' }];
    expect(withMessageIds(results, { a: 'm-a', b: 'm-b', c: 'm-c' })).toEqual([
      { to: 'a', messageId: 'm-a' },
      { to: 'b', messageId: 'own' },
      { to: 'c', messageId: 'm-c' },
      { to: 'd' },
    ]);
    // Nothing inherited: a number named like an Object.prototype member gets nothing.
    expect(withMessageIds([{ to: 'constructor' }], {})).toEqual([{ to: 'constructor' }]);
  });
});
