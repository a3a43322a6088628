import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  isInterfaceType,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import { BadUserInputError } from '../errors';
import { createOperationCache } from './operation-cache';

/** The argument whose list entries count towards the numbers-per-operation cap, on any field that has it. */
const NUMBERS_ARGUMENT = 'to';

/**
 * Validation rule: refuses an operation with more than `maxRootFields` top-level fields (aliases and fragments
 * included; `__typename` and introspection not counted). Each root field of this schema may cost provider
 * calls — `{ a: lookupLogs … b: lookupLogs … }` a thousand times over would burn the provider's 60-per-minute
 * logs quota for every client in one request. Reported as `GRAPHQL_VALIDATION_FAILED` with
 * `extensions.maxRootFields`.
 */
export function createRootFieldLimitRule(maxRootFields: number): ValidationRule {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const count = (selectionSet: SelectionSetNode, visiting: Set<string>): number => {
      let total = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (!selection.name.value.startsWith('__')) total++;
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          total += count(selection.selectionSet, visiting);
        } else {
          const fragment = fragments.get(selection.name.value);
          if (!fragment || visiting.has(selection.name.value)) continue;
          visiting.add(selection.name.value);
          total += count(fragment.selectionSet, visiting);
          visiting.delete(selection.name.value);
        }
        if (total > maxRootFields) return total;
      }
      return total;
    };
    return {
      OperationDefinition(node) {
        if (count(node.selectionSet, new Set()) > maxRootFields) {
          context.reportError(
            new GraphQLError(
              `An operation may select at most ${maxRootFields} top-level fields (aliases included).`,
              {
                nodes: [node],
                extensions: { code: 'GRAPHQL_VALIDATION_FAILED', maxRootFields },
              },
            ),
          );
        }
        return false;
      },
    };
  };
}

/**
 * Validation rule: refuses an operation whose selections nest deeper than `maxDepth` fields, following
 * fragments. `{ lookupNumbers { originalNetwork { networkName } } }` has depth 3. Introspection fields
 * (`__schema`, `__type`) are not counted, so Sandbox and codegen can always read the schema.
 * Reported as a validation error: `GRAPHQL_VALIDATION_FAILED` with `extensions.maxQueryDepth`.
 */
export function createDepthLimitRule(maxDepth: number): ValidationRule {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const depthOf = (selectionSet: SelectionSetNode, visiting: Set<string>): number => {
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith('__')) continue;
          const below = selection.selectionSet ? depthOf(selection.selectionSet, visiting) : 0;
          deepest = Math.max(deepest, 1 + below);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet, visiting));
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          // Cycles and unknown fragments are other rules' errors; do not recurse into them.
          if (!fragment || visiting.has(name)) continue;
          visiting.add(name);
          deepest = Math.max(deepest, depthOf(fragment.selectionSet, visiting));
          visiting.delete(name);
        }
        // Deep enough to refuse: stop walking (a hostile document may be huge).
        if (deepest > maxDepth) return deepest;
      }
      return deepest;
    };
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(
              `The operation${node.name ? ` "${node.name.value}"` : ''} nests deeper than ${maxDepth} fields (MAX_QUERY_DEPTH).`,
              { nodes: [node], extensions: { code: 'GRAPHQL_VALIDATION_FAILED', maxQueryDepth: maxDepth } },
            ),
          );
        }
      },
    };
  };
}

/**
 * Validation rule refusing `__schema` and `__type` (introspection off). Apollo Server applies its own over
 * HTTP; this one is for the WebSocket path, which must not be a way around `INTROSPECTION=false`.
 */
export const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(
        new GraphQLError('GraphQL introspection is not allowed here (INTROSPECTION is off).', {
          nodes: [node],
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
        }),
      );
    }
  },
});

/** The operation to check: a parsed, validated document and the request's raw variables. */
export interface OperationToCheck {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  variables?: Readonly<Record<string, unknown>> | null;
}

function entriesIn(
  value: ValueNode,
  operation: OperationDefinitionNode,
  variables: OperationToCheck['variables'],
): number {
  if (value.kind === Kind.LIST) return value.values.length;
  if (value.kind === Kind.NULL) return 0;
  if (value.kind === Kind.VARIABLE) {
    const name = value.name.value;
    if (variables && name in variables) {
      const given = variables[name];
      if (Array.isArray(given)) return given.length;
      return given === null || given === undefined ? 0 : 1;
    }
    const fallback = operation.variableDefinitions?.find((d) => d.variable.name.value === name)?.defaultValue;
    return fallback ? entriesIn(fallback, operation, variables) : 0;
  }
  // GraphQL coerces a single value into a one-entry list.
  return 1;
}

/** Where an operation's phone numbers are: the `to` arguments it selects, each as written (literal or variable). */
interface NumbersPlan {
  operation: OperationDefinitionNode;
  values: ValueNode[];
}

function buildPlan(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName?: string | null,
): NumbersPlan | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  const operations: OperationDefinitionNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(definition);
  }
  const selected = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!selected) return null;

  const root = schema.getRootType(selected.operation);
  if (!root) return null;
  const values: ValueNode[] = [];
  const collect = (
    selectionSet: SelectionSetNode,
    parent: GraphQLCompositeType,
    visiting: Set<string>,
  ): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const field: GraphQLField<unknown, unknown> | undefined =
          isObjectType(parent) || isInterfaceType(parent)
            ? parent.getFields()[selection.name.value]
            : undefined;
        if (!field) continue;
        const definition = field.args.find(
          (a) => a.name === NUMBERS_ARGUMENT && isListType(getNullableType(a.type)),
        );
        const argument = selection.arguments?.find((a) => a.name.value === NUMBERS_ARGUMENT);
        if (definition && argument) values.push(argument.value);
        const type = getNamedType(field.type);
        if (selection.selectionSet && isCompositeType(type)) collect(selection.selectionSet, type, visiting);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        if (type && isCompositeType(type)) collect(selection.selectionSet, type, visiting);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) continue;
        const type = schema.getType(fragment.typeCondition.name.value);
        if (!type || !isCompositeType(type)) continue;
        visiting.add(name);
        collect(fragment.selectionSet, type, visiting);
        visiting.delete(name);
      }
    }
  };
  collect(selected.selectionSet, root, new Set());
  return { operation: selected, values };
}

// One plan per schema and operation: the walk over every selection is done once, not once per request.
const plans = new WeakMap<GraphQLSchema, ReturnType<typeof createOperationCache<NumbersPlan | null>>>();

/**
 * Counts the phone numbers one operation carries: the entries of every list-typed `to` argument of every
 * field it selects, across aliases and fragments, literal or from variables. Duplicates count (they are
 * input the gateway must read). The operation is picked as execution would pick it; 0 when there is none.
 */
export function countNumbers(operation: OperationToCheck): number {
  let planFor = plans.get(operation.schema);
  if (!planFor) {
    const { schema } = operation;
    planFor = createOperationCache((document, operationName) => buildPlan(schema, document, operationName));
    plans.set(schema, planFor);
  }
  const plan = planFor(operation.document, operation.operationName);
  if (!plan) return 0;
  let total = 0;
  for (const value of plan.values) total += entriesIn(value, plan.operation, operation.variables);
  return total;
}

/**
 * Refuses an operation carrying more than `maxNumbers` phone numbers in total (see {@link countNumbers}):
 * returns a `BAD_USER_INPUT` error (HTTP 400) with `extensions.maxCount` and `count` (as the per-field check), or
 * undefined when within the cap. Runs before any resolver, so a refused operation never reaches the provider.
 */
export function checkNumberCap(
  operation: OperationToCheck,
  maxNumbers: number,
): BadUserInputError | undefined {
  const numbers = countNumbers(operation);
  if (numbers <= maxNumbers) return undefined;
  return new BadUserInputError(
    `The operation carries ${numbers} phone numbers across its fields; at most ${maxNumbers} are allowed per operation (MAX_NUMBERS_PER_OPERATION).`,
    { maxCount: maxNumbers, count: numbers, http: { status: 400 } },
  );
}

/**
 * Apollo Server plugin applying {@link checkNumberCap} to every HTTP operation once it is parsed, validated
 * and resolved, before execution.
 */
export function createNumberCapPlugin(maxNumbers: number): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request }) {
          const refused = checkNumberCap(
            { schema, document, operationName: request.operationName, variables: request.variables },
            maxNumbers,
          );
          if (refused) throw refused;
        },
      };
    },
  };
}
