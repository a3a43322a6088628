import type {
  ProviderError,
  ProviderNetwork,
  ProviderResult,
  ProviderStatus,
} from '../upstream/provider-types';

/** A network as clients see it (JSON-safe: the same object travels through Redis pub/sub). */
export interface NetworkData {
  networkName?: string | null;
  networkPrefix?: string | null;
  countryName?: string | null;
  countryPrefix?: string | null;
  networkId?: number | null;
}

export interface StatusData {
  groupId: number;
  groupName: string;
  id: number;
  name: string;
  description?: string | null;
  action?: string | null;
}

export interface ErrorData {
  groupId: number;
  groupName: string;
  id: number;
  name: string;
  description?: string | null;
  permanent?: boolean | null;
}

/** One number's lookup result in the gateway's shape (`servingMsc`, not the provider's `servingMSC`). */
export interface LookupResultData {
  to: string;
  messageId?: string | null;
  mccMnc?: string | null;
  imsi?: string | null;
  originalNetwork?: NetworkData | null;
  ported?: boolean | null;
  portedNetwork?: NetworkData | null;
  roaming?: boolean | null;
  roamingNetwork?: NetworkData | null;
  servingMsc?: string | null;
  status?: StatusData | null;
  error?: ErrorData | null;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const int = (v: unknown): number | undefined => {
  const n = num(v);
  // Int is 32-bit in GraphQL: a larger provider value would fail the whole response at serialisation.
  return n !== undefined && Number.isInteger(n) && Math.abs(n) <= 2_147_483_647 ? n : undefined;
};
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

// Objects are built field by field, only with the fields that are there: this runs for every result of every
// lookup, and intermediate objects (spreads, entries, a compacting pass) showed in profiles.
function set<T extends object, K extends keyof T>(out: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) out[key] = value;
}

function toNetwork(value: ProviderNetwork | undefined): NetworkData | undefined {
  const n = obj(value);
  if (!n) return undefined;
  const out: NetworkData = {};
  set(out, 'networkName', str(n.networkName));
  set(out, 'networkPrefix', str(n.networkPrefix));
  set(out, 'countryName', str(n.countryName));
  set(out, 'countryPrefix', str(n.countryPrefix));
  set(out, 'networkId', int(n.networkId));
  for (const _ in out) return out;
  return undefined;
}

function toStatus(value: ProviderStatus | undefined): StatusData | undefined {
  const s = obj(value);
  if (!s) return undefined;
  const groupId = int(s.groupId);
  const id = int(s.id);
  const groupName = str(s.groupName);
  const name = str(s.name);
  // The schema marks these non-null: a status without them is not a status the client can act on.
  if (groupId === undefined || id === undefined || groupName === undefined || name === undefined)
    return undefined;
  const out: StatusData = { groupId, groupName, id, name };
  set(out, 'description', str(s.description));
  set(out, 'action', str(s.action));
  return out;
}

function toError(value: ProviderError | undefined): ErrorData | undefined {
  const e = obj(value);
  if (!e) return undefined;
  const groupId = int(e.groupId);
  const id = int(e.id);
  const groupName = str(e.groupName);
  const name = str(e.name);
  if (groupId === undefined || id === undefined || groupName === undefined || name === undefined)
    return undefined;
  const out: ErrorData = { groupId, groupName, id, name };
  set(out, 'description', str(e.description));
  set(out, 'permanent', bool(e.permanent));
  return out;
}

/**
 * The number a provider result is about, as the gateway sends numbers (international digits only): the provider
 * echoes `to` as it was sent, but a leading `+` or `00`, spaces or dashes are dropped should it add them.
 */
export function resultNumber(to: string): string {
  // Almost always already so: checked without building new strings.
  if (PLAIN.test(to)) return to;
  return to.replace(/\D+/g, '').replace(/^00/, '');
}

const PLAIN = /^[1-9]\d*$/;

/**
 * Maps one provider result to the gateway's shape, field by field, dropping values of the wrong type rather
 * than failing the whole response (every field but `to` may be missing). Pure.
 */
export function toLookupResult(result: ProviderResult, to: string = result.to): LookupResultData {
  const r = result as unknown as Record<string, unknown>;
  const out: LookupResultData = { to };
  set(out, 'messageId', str(r.messageId));
  set(out, 'mccMnc', str(r.mccMnc));
  set(out, 'imsi', str(r.imsi));
  set(out, 'originalNetwork', toNetwork(result.originalNetwork));
  set(out, 'ported', bool(r.ported));
  set(out, 'portedNetwork', toNetwork(result.portedNetwork));
  set(out, 'roaming', bool(r.roaming));
  set(out, 'roamingNetwork', toNetwork(result.roamingNetwork));
  set(out, 'servingMsc', str(r.servingMSC));
  set(out, 'status', toStatus(result.status));
  set(out, 'error', toError(result.error));
  return out;
}

/**
 * Whether a provider status, as received and before any mapping, is in the PENDING group (id 1): `groupId` 1 or
 * "1", `groupName` "PENDING" in any case, or a `name` starting with "PENDING". Decided on the raw value because
 * the mapping drops a status with a field of the wrong type (a string id, a missing name), and a pending status
 * that vanished that way would pass for a final answer and, first writer winning, lock out the real one.
 */
export function isPendingStatus(status: unknown): boolean {
  const s = obj(status);
  if (!s) return false;
  const { groupId, groupName, name } = s;
  return (
    groupId === 1 ||
    (typeof groupId === 'string' && groupId.trim() === '1') ||
    (typeof groupName === 'string' && groupName.trim().toUpperCase() === 'PENDING') ||
    (typeof name === 'string' && name.trim().toUpperCase().startsWith('PENDING'))
  );
}

/**
 * `results` with the notify acknowledgement's `messageId` (by number) filled into each result that has none; a
 * result's own messageId is kept. Returns the same objects where nothing changes. Pure.
 */
export function withMessageIds(
  results: LookupResultData[],
  messageIds: Readonly<Record<string, string>>,
): LookupResultData[] {
  return results.map((result) => {
    if (result.messageId) return result;
    const messageId = Object.hasOwn(messageIds, result.to) ? messageIds[result.to] : undefined;
    return messageId ? { ...result, messageId } : result;
  });
}
