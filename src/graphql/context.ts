import type { LookupService } from '../lookup/lookup-service';
import type { RequestRegistry } from '../requests/request-registry';
import type { Logger } from '../observability/logger';

/** Per-operation context, the same over HTTP and WebSocket. */
export interface GatewayContext {
  service: LookupService;
  registry: RequestRegistry;
  /** Hash of the client's API key when client auth is on: scopes async requests to their creator. */
  clientId?: string;
  /** Correlates log lines of one operation. */
  requestId: string;
  logger: Logger;
}
