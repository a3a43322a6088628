/** Wire types of the provider's Number Lookup API (JSON), as documented; every field but `to` may be missing. */

/** A network (original, ported or roaming). */
export interface ProviderNetwork {
  networkName?: string;
  networkPrefix?: string;
  countryName?: string;
  countryPrefix?: string;
  networkId?: number;
}

/** The lookup status of one number. */
export interface ProviderStatus {
  groupId: number;
  groupName: string;
  id: number;
  name: string;
  description?: string;
  action?: string;
}

/** The network error of one number; the OK group is spelled both `Ok` and `OK`. */
export interface ProviderError {
  groupId: number;
  groupName: string;
  id: number;
  name: string;
  description?: string;
  permanent?: boolean;
}

/** One number's result, in query responses, notify acknowledgements and callbacks. */
export interface ProviderResult {
  to: string;
  mccMnc?: string;
  imsi?: string;
  originalNetwork?: ProviderNetwork;
  ported?: boolean;
  portedNetwork?: ProviderNetwork;
  roaming?: boolean;
  roamingNetwork?: ProviderNetwork;
  servingMSC?: string;
  status?: ProviderStatus;
  error?: ProviderError;
  messageId?: string;
}

/** Body of POST /number/1/query (and of /notify, with `notifyUrl`). */
export interface ProviderQueryRequest {
  to: string[];
}

export interface ProviderNotifyRequest {
  to: string[];
  notifyUrl: string;
  notifyContentType?: string;
}

/** Response of /query and /notify (the acknowledgement), and body of the callback to notifyUrl. */
export interface ProviderResultsResponse {
  bulkId?: string;
  results: ProviderResult[];
}

/** Query parameters of GET /number/1/logs. */
export interface ProviderLogsQuery {
  to?: string;
  bulkId?: string[];
  messageId?: string[];
  generalStatus?: string;
  /** Provider date-time format, e.g. `2015-02-22T17:42:05.390+0000`. */
  sentSince?: string;
  sentUntil?: string;
  limit?: number;
  mcc?: string;
  mnc?: string;
}

export interface ProviderPrice {
  currency: string;
  pricePerLookup: number;
}

/** One entry of GET /number/1/logs. */
export interface ProviderLog {
  bulkId?: string;
  messageId?: string;
  to: string;
  sentAt?: string;
  doneAt?: string;
  mccMnc?: string;
  price?: ProviderPrice;
  status?: ProviderStatus;
  error?: ProviderError;
}

export interface ProviderLogsResponse {
  results: ProviderLog[];
}

/** The provider's error body. */
export interface ProviderErrorBody {
  requestError?: {
    serviceException?: {
      messageId?: string;
      text?: string;
      validationErrors?: Record<string, string[]>;
    };
  };
}
