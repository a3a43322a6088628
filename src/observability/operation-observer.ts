import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from './logger';
import type { GatewayMetrics } from './metrics';

/** How an operation reached the gateway. */
export type OperationTransport = 'http' | 'ws';

/** What is known of an operation when it starts; the rest is filled in as it runs. */
export interface OperationStart {
  transport: OperationTransport;
  /** The request id (`x-request-id`, or generated): every log line of the operation carries it as `reqId`. */
  requestId: string;
  operationName?: string | null;
  type?: string;
}

/** One running operation: name it once resolved, then end it exactly once with its outcome. */
export interface ObservedOperation {
  identify(operationName: string | null | undefined, type: string | undefined): void;
  /** Ends the operation: `outcome` is `ok` or the first error's code. Later calls do nothing. */
  end(outcome: string): void;
}

/** The outcome label of a response: `ok`, or the first error's `extensions.code`. */
export function outcomeOf(errors: readonly GraphQLFormattedError[] | undefined): string {
  if (!errors?.length) return 'ok';
  const code = errors[0].extensions?.code;
  return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : 'INTERNAL_SERVER_ERROR';
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]{0,99}$/;

/**
 * Records every GraphQL operation, over HTTP and WebSocket alike, as one observation of the
 * `gateway_graphql_operation_duration_seconds` histogram (labels: operation name, type, transport, outcome)
 * and one `graphql operation` log line with its request id, outcome and duration (never its variables: they
 * are phone numbers). Operation names come from clients, so only the first `maxOperationNames` distinct
 * names become labels (default 100); later ones count as `other`, malformed ones as `invalid`.
 */
export class OperationObserver {
  private readonly names = new Set<string>();

  private readonly maxOperationNames: number;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    options: { maxOperationNames?: number } = {},
  ) {
    this.maxOperationNames = options.maxOperationNames ?? 100;
  }

  /** The metric label for a client-given operation name. */
  label(operationName: string | null | undefined): string {
    if (!operationName) return 'anonymous';
    if (!NAME.test(operationName)) return 'invalid';
    if (this.names.has(operationName)) return operationName;
    if (this.names.size >= this.maxOperationNames) return 'other';
    this.names.add(operationName);
    return operationName;
  }

  /** Starts timing an operation. */
  begin(start: OperationStart): ObservedOperation {
    const startedAt = process.hrtime.bigint();
    let name = start.operationName;
    let type = start.type;
    let ended = false;
    return {
      identify: (operationName, operationType) => {
        name = operationName ?? name;
        type = operationType ?? type;
      },
      end: (outcome) => {
        if (ended) return;
        ended = true;
        const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
        const labels = {
          operation: this.label(name),
          type: type ?? 'unknown',
          transport: start.transport,
          outcome,
        };
        this.metrics.operations.observe(labels, seconds);
        this.logger.info(
          { reqId: start.requestId, ...labels, durationMs: Math.round(seconds * 1_000_000) / 1_000 },
          'graphql operation',
        );
      },
    };
  }

  /**
   * The Apollo Server plugin for the HTTP path. Operations refused before Apollo creates their context
   * (UNAUTHENTICATED, RATE_LIMITED) never reach plugins: the HTTP adapter records those itself.
   */
  apolloPlugin<
    TContext extends { requestId: string; observation?: { observed: boolean } },
  >(): ApolloServerPlugin<TContext> {
    return {
      requestDidStart: async ({ contextValue, request }) => {
        // Apollo Server copies the context per operation, shallowly: this object is the one the adapter holds.
        if (contextValue.observation) contextValue.observation.observed = true;
        const operation = this.begin({
          transport: 'http',
          requestId: contextValue.requestId,
          operationName: request.operationName,
        });
        return {
          async didResolveOperation({ operationName, operation: definition }) {
            operation.identify(operationName, definition?.operation);
          },
          async willSendResponse({ response }) {
            const errors =
              response.body.kind === 'single'
                ? response.body.singleResult.errors
                : response.body.initialResult.errors;
            operation.end(outcomeOf(errors));
          },
        };
      },
    };
  }
}
