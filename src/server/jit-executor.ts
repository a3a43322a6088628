import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { execute, GraphQLError, printSchema, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { createOperationCache } from './operation-cache';

// graphql-jit's errors are GraphQLErrors by prototype only: without extensions their `extensions` is undefined
// (graphql-js always has an object), and Apollo Server's error formatting then fails. A real one with the same
// message, locations, path and original error is what every error consumer expects.
function asGraphQLError(error: GraphQLError): GraphQLError {
  if (error.extensions) return error;
  const real = new GraphQLError(error.message, {
    path: error.path,
    originalError: error.originalError ?? undefined,
  });
  (real as { locations?: GraphQLError['locations'] }).locations = error.locations;
  return real;
}

/**
 * Apollo Server's executor slot filled with graphql-jit: each distinct operation is compiled once into a plain
 * JavaScript function, and every later request for it runs that function instead of graphql-js's generic
 * executor. Apollo Server 4 and later take a custom executor only through their `gateway` option (their own
 * migration guide says so), so this is a gateway that serves one fixed schema and never updates it; parsing,
 * validation, the document cache, plugins, error formatting and HTTP handling stay Apollo's.
 *
 * Compiled operations are held per parsed document, which Apollo Server caches by query text (and drops when
 * its document cache evicts it), so they are bounded by that cache. A document graphql-jit cannot compile
 * answers with the compiler's errors; refused variables are answered by graphql-js (see below).
 */
export function createJitExecution(schema: GraphQLSchema): GatewayInterface {
  // No leaf serializers: every leaf value this schema's resolvers return is already of its type (the one mapping
  // of provider results checks each field; dates are ISO strings; enums are their names), and they were a tenth
  // of the time spent on a lookup's response. test/server/jit-executor.test.ts holds it to graphql-js.
  const compiled = createOperationCache((document, operationName): CompiledQuery | ExecutionResult =>
    compileQuery(schema, document, operationName, { disableLeafSerialization: true }),
  );
  const executor: GatewayExecutor = async ({ document, operationName, request, context }) => {
    const query = compiled(document, operationName);
    if (!isCompiledQuery(query)) return query;
    const result = await query.query(undefined, context, request.variables ?? {});
    // A result without `data` means the variables were refused and nothing ran. graphql-jit words those errors its
    // own way (no nodes, the inner field's name); graphql-js's are the reference, and what Apollo Server tells
    // apart as BAD_USER_INPUT, so graphql-js does that request again.
    if (!('data' in result)) {
      return execute({
        schema,
        document,
        operationName,
        variableValues: request.variables,
        contextValue: context,
      });
    }
    if (result.errors) return { ...result, errors: result.errors.map(asGraphQLError) };
    return result;
  };
  return {
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: printSchema(schema) });
      return () => undefined;
    },
    async load() {
      return { executor };
    },
    async stop() {},
  };
}
