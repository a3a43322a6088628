import { ServiceUnavailableError } from '../errors';
import type { Logger } from '../observability/logger';
import type { RequestStore } from './request-store';

/**
 * Wraps a store so any failure of its backend (Redis down, timeout) surfaces as one
 * {@link ServiceUnavailableError} (`SERVICE_UNAVAILABLE`) instead of a masked internal error; the cause is
 * logged, never shown. `ping` and `dispose` pass through untouched.
 */
export function guardStore(store: RequestStore, logger: Logger): RequestStore {
  const guard =
    <A extends unknown[], R>(name: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (error) {
        logger.warn({ err: { message: (error as Error).message }, op: name }, 'request store unavailable');
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
