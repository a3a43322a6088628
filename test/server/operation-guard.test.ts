import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { ExecutionArgs, GraphQLError } from 'graphql';
import { buildGatewaySchema } from '../../src/schema';
import { createWebSocketOperationGuard } from '../../src/server/operation-guard';
import { createDepthLimitRule } from '../../src/server/operation-limits';
import { createRateLimiter } from '../../src/server/rate-limit';

const LOOKUP = 'query ($to: [String!]!) { lookupNumbers(to: $to) { to } }';

describe('createWebSocketOperationGuard (document cache)', () => {
  const socket = new Socket();
  const client = { request: new IncomingMessage(socket) };
  afterAll(() => socket.destroy());
  const guard = () =>
    createWebSocketOperationGuard({
      schema: buildGatewaySchema(),
      validationRules: [createDepthLimitRule(2)],
      maxNumbersPerOperation: 2,
      rateLimiter: createRateLimiter(0),
      trustProxyHops: 0,
    });

  it('parses and validates a query text once and shares its document', async () => {
    const prepare = guard();
    const first = (await prepare(
      { query: LOOKUP, variables: { to: ['41793026727'] } },
      client,
    )) as ExecutionArgs;
    const second = (await prepare(
      { query: LOOKUP, variables: { to: ['41793026728'] } },
      client,
    )) as ExecutionArgs;
    expect(first.document).toBeDefined();
    expect(second.document).toBe(first.document);
    expect(second.variableValues).toEqual({ to: ['41793026728'] });
  });

  it('still checks the variables of every operation against the numbers cap', async () => {
    const prepare = guard();
    await prepare({ query: LOOKUP, variables: { to: ['41793026727'] } }, client);
    const refused = (await prepare(
      { query: LOOKUP, variables: { to: ['41793026727', '41793026728', '41793026729'] } },
      client,
    )) as readonly GraphQLError[];
    expect(refused.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  });

  it('refuses an invalid query every time it is sent', async () => {
    const prepare = guard();
    const deep = 'query { lookupNumbers(to: ["41793026727"]) { originalNetwork { networkName } } }';
    for (let i = 0; i < 2; i++) {
      const errors = (await prepare({ query: deep }, client)) as readonly GraphQLError[];
      expect(errors.map((e) => e.extensions.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    }
  });
});
