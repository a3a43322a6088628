import { execute, parse, print, type DocumentNode } from 'graphql';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import type { GatewayContext } from '../../src/graphql/context';
import { toLookupResult } from '../../src/lookup/lookup-result';
import type { LookupLogData } from '../../src/lookup/lookup-service';
import type { RequestRecord } from '../../src/requests/request-store';
import { buildGatewaySchema } from '../../src/schema';
import { createJitExecution } from '../../src/server/jit-executor';
import { simulateLookup } from '../../src/simulator';
import {
  LookupLogsDocument,
  LookupNumbersDocument,
  LookupRequestDocument,
  RequestLookupDocument,
} from '../fixtures/generated/graphql';

// Every scenario of the simulator: delivered, absent, ported, roaming, unknown subscriber, rejected, the seed's.
const NUMBERS = Array.from({ length: 10 }, (_, i) => `4179302672${i}`);
const RESULTS = NUMBERS.map((n) => toLookupResult(simulateLookup(n), n));

const RECORD: RequestRecord = {
  id: '6f1c0d7e-0000-4000-8000-000000000000',
  secretHash: 'x',
  to: NUMBERS,
  state: 'COMPLETED',
  bulkIds: ['b-1'],
  messageIds: {},
  results: RESULTS,
  createdAt: '2026-12-03T10:00:00.000Z',
  completedAt: '2026-12-03T10:00:01.000Z',
  expiresAt: '2026-12-03T10:05:00.000Z',
};

const LOGS: LookupLogData[] = RESULTS.slice(0, 3).map((r, i) => ({
  ...r,
  bulkId: `b-${i}`,
  sentAt: '2026-12-03T10:00:00.000Z',
  doneAt: i === 2 ? null : '2026-12-03T10:00:00.250Z',
  ...(i === 1 ? {} : { price: { currency: 'EUR', pricePerLookup: 0.005 } }),
}));

const context = {
  requestId: 'r-1',
  service: {
    lookupNumbers: async (to: string[]) => to.map((n) => RESULTS[NUMBERS.indexOf(n)] ?? { to: n }),
    requestLookup: async () => ({ ...RECORD, state: 'PENDING', results: [], completedAt: undefined }),
    lookupLogs: async () => LOGS,
  },
  registry: { get: async (id: string) => (id === RECORD.id ? RECORD : null) },
} as unknown as GatewayContext;

const OPERATIONS: [string, DocumentNode, Record<string, unknown>][] = [
  ['lookupNumbers', LookupNumbersDocument, { to: NUMBERS }],
  ['lookupRequest', LookupRequestDocument, { id: RECORD.id }],
  ['lookupRequest of an unknown id', LookupRequestDocument, { id: 'nope' }],
  ['requestLookup', RequestLookupDocument, { to: NUMBERS }],
  ['lookupLogs', LookupLogsDocument, {}],
  [
    '__typename and introspection',
    parse('{ __typename __type(name: "LookupRequestState") { enumValues { name } } }'),
    {},
  ],
];

describe('createJitExecution', () => {
  it.each(OPERATIONS)('answers %s exactly as graphql-js does', async (_name, typed, variables) => {
    const schema = buildGatewaySchema();
    // As Apollo Server hands it over: a document it parsed itself.
    const document = parse(print(typed));
    const { executor } = await createJitExecution(schema).load({ apollo: {} as never });
    const jit = await executor!({
      document,
      operationName: null,
      request: { variables },
      context,
    } as unknown as GatewayGraphQLRequestContext);
    const reference = await execute({ schema, document, variableValues: variables, contextValue: context });

    expect(reference.errors).toBeUndefined();
    expect(JSON.stringify(jit)).toBe(JSON.stringify(reference));
  });

  it('answers refused variables with graphql-js errors, and errors thrown by resolvers with their path', async () => {
    const schema = buildGatewaySchema();
    const { executor } = await createJitExecution(schema).load({ apollo: {} as never });
    const run = (document: DocumentNode, variables: Record<string, unknown>, contextValue = context) =>
      executor!({
        document,
        operationName: null,
        request: { variables },
        context: contextValue,
      } as unknown as GatewayGraphQLRequestContext);

    const refused = await run(parse(print(LookupNumbersDocument)), { to: 123 });
    expect(refused.data).toBeUndefined();
    expect(refused.errors![0].message).toMatch(/^Variable "\$to" got invalid value 123/);
    expect(refused.errors![0].nodes?.[0].kind).toBe('VariableDefinition');

    const failing = { ...context, registry: { get: async () => Promise.reject(new Error('down')) } };
    const thrown = await run(parse(print(LookupRequestDocument)), { id: RECORD.id }, failing as never);
    expect(thrown.data).toEqual({ lookupRequest: null });
    expect(thrown.errors![0].path).toEqual(['lookupRequest']);
    expect(thrown.errors![0].extensions).toEqual({});
    expect(thrown.errors![0].originalError?.message).toBe('down');
  });
});
