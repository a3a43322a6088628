import {
  ProviderShapeError,
  parseErrorBody,
  parseLogsResponse,
  parseResultsResponse,
} from '../../src/upstream/provider-schemas';
import { DELIVERED_STATUS, NO_ERROR } from '../helpers/provider-fixtures';

const STATUS = DELIVERED_STATUS;
const ERROR = NO_ERROR;

describe('parseResultsResponse', () => {
  it('keeps every documented field, servingMSC included', () => {
    const result = {
      to: '41793026727',
      mccMnc: '22801',
      imsi: '228011234567890',
      originalNetwork: {
        networkName: 'Swisscom',
        networkPrefix: '79',
        countryName: 'Switzerland',
        networkId: 1,
      },
      ported: false,
      roaming: false,
      servingMSC: '41794990000',
      status: STATUS,
      error: ERROR,
    };

    expect(parseResultsResponse({ bulkId: 'b-1', results: [result] })).toEqual({
      bulkId: 'b-1',
      results: [result],
    });
  });

  it('drops unknown top-level fields and keeps unknown per-result fields', () => {
    expect(parseResultsResponse({ results: [{ to: '1', newField: { a: 1 } }], debug: 'x' })).toEqual({
      results: [{ to: '1', newField: { a: 1 } }],
    });
  });

  it('drops a bulkId of the wrong type and leaves per-result fields to the mapping', () => {
    const result = { to: '1', ported: 'no', status: { ...STATUS, groupName: null } };

    expect(parseResultsResponse({ bulkId: 42, results: [result] })).toEqual({ results: [result] });
  });

  it('throws ProviderShapeError naming the path, never the value', () => {
    const attempt = () => parseResultsResponse({ results: [{ to: '1' }, { to: 41_793_026_727 }] });

    expect(attempt).toThrow(ProviderShapeError);
    expect(attempt).toThrow('results[1].to');
    expect(attempt).not.toThrow('41793026727');
  });

  it('rejects anything without a results array', () => {
    for (const body of [null, 'x', [], {}, { results: {} }, { results: ['x'] }]) {
      expect(() => parseResultsResponse(body)).toThrow(ProviderShapeError);
    }
  });
});

describe('parseLogsResponse', () => {
  it('keeps log entries and drops malformed optional parts', () => {
    const parsed = parseLogsResponse({
      results: [
        {
          bulkId: 'b',
          messageId: 'm',
          to: '1',
          sentAt: '2026-01-01T00:00:00.000+0000',
          price: { currency: 'EUR', pricePerLookup: 'cheap' },
          status: STATUS,
        },
      ],
    });

    expect(parsed.results).toEqual([
      { bulkId: 'b', messageId: 'm', to: '1', sentAt: '2026-01-01T00:00:00.000+0000', status: STATUS },
    ]);
  });

  it('rejects entries without `to`', () => {
    expect(() => parseLogsResponse({ results: [{ bulkId: 'b' }] })).toThrow('results[0].to');
  });
});

describe('parseErrorBody', () => {
  it('extracts messageId and text from the provider error body', () => {
    const body = JSON.stringify({
      requestError: {
        serviceException: { messageId: 'BAD_REQUEST', text: 'Bad request', validationErrors: {} },
      },
    });

    expect(parseErrorBody(body)).toEqual({ messageId: 'BAD_REQUEST', text: 'Bad request' });
  });

  it('returns {} for anything else', () => {
    for (const text of ['', '<html>', 'null', '"x"', '{}', '{"requestError":"x"}']) {
      expect(parseErrorBody(text)).toEqual({});
    }
  });
});
