import { GatewayError, ServiceUnavailableError } from '../errors';
import type { Logger } from '../observability/logger';
import type { RequestStore } from './request-store';

/**
 * Wraps a store so any failure of its backend (Redis down, timeout) surfaces as one
 * {@link ServiceUnavailableError} (`SERVICE_UNAVAILABLE`) instead of a masked internal error; the cause is
 * logged (at warn when an outage starts, at info when it ends), never shown. `ping` and `dispose` pass through untouched.
 */
export function guardStore(store: RequestStore, logger: Logger): RequestStore {
  // An outage is logged when it starts and when it ends; in between (the expiry sweep alone tries every second)
  // each failure is only a debug line.
  let failing = false;
  const guard =
    <A extends unknown[], R>(name: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        const result = await call(...args);
        if (failing) {
          failing = false;
          logger.info({ op: name }, 'request store available again');
        }
        return result;
      } catch (error) {
        // The store saying no (full) is an answer, not an outage.
        if (error instanceof GatewayError) throw error;
        const fields = { err: { message: (error as Error).message }, op: name };
        if (failing) logger.debug(fields, 'request store still unavailable');
        else logger.warn(fields, 'request store unavailable');
        failing = true;
        throw new ServiceUnavailableError();
      }
    };
  return {
    create: guard('create', store.create.bind(store)),
    get: guard('get', store.get.bind(store)),
    addAcknowledgement: guard('addAcknowledgement', store.addAcknowledgement.bind(store)),
    addResults: guard('addResults', store.addResults.bind(store)),
    expire: guard('expire', store.expire.bind(store)),
    dueForExpiry: guard('dueForExpiry', store.dueForExpiry.bind(store)),
    delete: guard('delete', store.delete.bind(store)),
    ping: () => store.ping(),
    dispose: () => store.dispose(),
  };
}
