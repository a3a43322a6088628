import type { LookupService } from '../lookup/lookup-service';
import type { RequestRegistry } from '../requests/request-registry';

/** Per-operation context, the same over HTTP and WebSocket. */
export interface GatewayContext {
  service: LookupService;
  registry: RequestRegistry;
  /** Hash of the client's API key when client auth is on: scopes async requests to their creator. */
  clientId?: string;
  /**
   * The operation's request id: the HTTP request's `X-Request-Id` (or a generated one, echoed in the response),
   * a fresh UUID per WebSocket operation. Logged as `reqId` (`requestId` in logs is an async request's id) on
   * every line the operation writes, its provider calls' included.
   */
  requestId: string;
  /**
   * HTTP only: marked once the operation observer saw the operation, so that the HTTP adapter records the
   * requests Apollo Server refused before any plugin ran.
   */
  observation?: { observed: boolean };
}
