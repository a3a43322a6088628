import { ERRORS } from '../../src/simulator/scenarios';
import type { ProviderError, ProviderStatus } from '../../src/upstream/provider-types';

/** A final status as the provider writes it. */
export const DELIVERED_STATUS: ProviderStatus = {
  groupId: 3,
  groupName: 'DELIVERED',
  id: 5,
  name: 'DELIVERED_TO_HANDSET',
  description: 'ok',
};

/** The provider's "no error" (its OK group, spelled as its OpenAPI description does). */
export const NO_ERROR: ProviderError = ERRORS.noError;
