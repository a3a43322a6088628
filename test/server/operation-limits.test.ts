import { getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import { buildGatewaySchema } from '../../src/schema';
import {
  checkNumberCap,
  countNumbers,
  createDepthLimitRule,
  noIntrospectionRule,
} from '../../src/server/operation-limits';

const schema = buildGatewaySchema();

const count = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
  countNumbers({ schema, document: parse(query), variables, operationName });

const depthErrors = (query: string, maxDepth: number) =>
  validate(schema, parse(query), [...specifiedRules, createDepthLimitRule(maxDepth)]);

describe('countNumbers', () => {
  it('sums literal lists across aliases and root fields', () => {
    expect(
      count(`{
        a: lookupNumbers(to: ["41793026727", "41793026728"]) { to }
        b: lookupNumbers(to: ["41793026729"]) { to }
        lookupLogs(filter: { to: "41793026727" }) { to }
      }`),
    ).toBe(3);
  });

  it('counts variables, variable defaults, single values and fragments', () => {
    expect(count('query ($x: [String!]!) { a: lookupNumbers(to: $x) { to } }', { x: ['1', '2', '3'] })).toBe(
      3,
    );
    expect(count('query ($x: [String!]! = ["1", "2"]) { lookupNumbers(to: $x) { to } }', {})).toBe(2);
    expect(count('{ lookupNumbers(to: "41793026727") { to } }')).toBe(1);
    expect(
      count(
        `query ($x: [String!]!) { ...F ... on Query { b: lookupNumbers(to: ["1", $y]) { to } } }
         fragment F on Query { a: lookupNumbers(to: $x) { to } }`.replace('$y', '"2"'),
        { x: ['1', '2', '3', '4'] },
      ),
    ).toBe(6);
  });

  it('counts mutations and picks the named operation', () => {
    const document = `
      mutation M($to: [String!]!) { a: requestLookup(to: $to) { id } b: requestLookup(to: $to) { id } }
      query Q { lookupNumbers(to: ["1"]) { to } }`;
    expect(count(document, { to: ['1', '2'] }, 'M')).toBe(4);
    expect(count(document, { to: ['1', '2'] }, 'Q')).toBe(1);
  });

  it('refuses over the cap with BAD_USER_INPUT, maxCount and count', () => {
    const document = parse('{ a: lookupNumbers(to: ["1", "2"]) { to } b: lookupNumbers(to: ["3"]) { to } }');
    expect(checkNumberCap({ schema, document }, 3)).toBeUndefined();
    const refused = checkNumberCap({ schema, document }, 2);
    expect(refused?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', maxCount: 2, count: 3 });
  });
});

describe('createDepthLimitRule', () => {
  const deep = '{ lookupRequest(id: "x") { results { originalNetwork { networkName } } } }';

  it('admits an operation as deep as the limit and refuses one deeper, following fragments', () => {
    expect(depthErrors(deep, 4)).toEqual([]);
    const errors = depthErrors(deep, 3);
    expect(errors).toHaveLength(1);
    expect(errors[0].extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', maxQueryDepth: 3 });
    const viaFragment = `{ lookupRequest(id: "x") { ...R } }
      fragment R on LookupRequest { results { ... on NumberLookupResult { originalNetwork { networkName } } } }`;
    expect(depthErrors(viaFragment, 3)).toHaveLength(1);
    expect(depthErrors(viaFragment, 4)).toEqual([]);
  });

  it('does not count introspection, so Sandbox can always load the schema', () => {
    expect(depthErrors(getIntrospectionQuery(), 2)).toEqual([]);
  });
});

describe('noIntrospectionRule', () => {
  it('refuses __schema and __type, and nothing else', () => {
    const rules = [...specifiedRules, noIntrospectionRule];
    expect(validate(schema, parse('{ __schema { queryType { name } } }'), rules)).toHaveLength(1);
    expect(validate(schema, parse('{ __type(name: "Query") { name } }'), rules)).toHaveLength(1);
    expect(validate(schema, parse('{ lookupRequest(id: "x") { __typename id } }'), rules)).toEqual([]);
  });
});
