import 'reflect-metadata';
import { printSchema, type GraphQLSchema } from 'graphql';
import { buildSchemaSync } from 'type-graphql';
import { LookupLogResolver } from './graphql/logs/lookup-log.resolver';
import { LookupResolver } from './graphql/lookup/lookup.resolver';

/** Path of the emitted SDL, relative to the repository root. */
export const SCHEMA_PATH = 'schema/schema.graphql';

let built: GraphQLSchema | undefined;

/**
 * The gateway's executable schema (type-graphql). Built once per process and shared by HTTP and WebSocket.
 * `npm run emit-schema` writes its SDL to schema/schema.graphql; a test fails when the two differ.
 */
export function buildGatewaySchema(): GraphQLSchema {
  built ??= buildSchemaSync({
    resolvers: [LookupResolver, LookupLogResolver],
    validate: false,
    // Every @Subscription here brings its own `subscribe` (the request registry); type-graphql insists on a
    // PubSub anyway, so it gets one that refuses to be used.
    pubSub: {
      publish: () => {
        throw new Error('type-graphql topics are not used: publish through the request registry');
      },
      subscribe: () => {
        throw new Error('type-graphql topics are not used: subscribe through the request registry');
      },
    },
  });
  return built;
}

/** The SDL as committed in schema/schema.graphql. */
export function printGatewaySchema(): string {
  return (
    '# Emitted by `npm run emit-schema` from the type-graphql classes in src/graphql. Do not edit.\n\n' +
    printSchema(buildGatewaySchema()) +
    '\n'
  );
}
