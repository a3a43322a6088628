// zod 4 (shipped inside the zod 3.25 package): the same schemas parse about twice as fast as with zod 3.
import { z } from 'zod/v4';
import type { ProviderErrorBody, ProviderLogsResponse, ProviderResultsResponse } from './provider-types';

/**
 * A known field that is dropped (not fatal) when it has the wrong type: the provider's data varies by country and
 * account package, and one odd field must not cost the caller the whole answer.
 */
function lenient<T extends z.ZodType>(schema: T) {
  return schema.optional().catch(undefined);
}

// Status and error without their identifying fields are useless to clients (the schema makes them non-null), so a
// malformed one is dropped as a whole rather than half-kept.
const statusSchema = z.looseObject({
  groupId: z.number(),
  groupName: z.string(),
  id: z.number(),
  name: z.string(),
  description: lenient(z.string()),
  action: lenient(z.string()),
});

const errorSchema = z.looseObject({
  groupId: z.number(),
  groupName: z.string(),
  id: z.number(),
  name: z.string(),
  description: lenient(z.string()),
  permanent: lenient(z.boolean()),
});

const logSchema = z.looseObject({
  bulkId: lenient(z.string()),
  messageId: lenient(z.string()),
  to: z.string(),
  sentAt: lenient(z.string()),
  doneAt: lenient(z.string()),
  mccMnc: lenient(z.string()),
  price: lenient(z.looseObject({ currency: z.string(), pricePerLookup: z.number() })),
  status: lenient(statusSchema),
  error: lenient(errorSchema),
});

const logsResponseSchema = z.object({ results: z.array(logSchema) });

const errorBodySchema = z.object({
  requestError: lenient(
    z.object({
      serviceException: lenient(
        z.object({
          messageId: lenient(z.string()),
          text: lenient(z.string()),
        }),
      ),
    }),
  ),
});

/** Why a body did not match: the path of the first problem only, never a value (values may echo secrets). */
export class ProviderShapeError extends Error {
  constructor(readonly path: string) {
    super(`unexpected shape at ${path}`);
    this.name = 'ProviderShapeError';
  }
}

function firstIssuePath(error: z.core.$ZodError): string {
  const path = error.issues[0]?.path ?? [];
  return path.length === 0
    ? '(root)'
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '');
}

/**
 * Deletes keys whose value is `undefined` (left behind by dropped fields), in place, recursively through objects
 * and arrays. Only for values the parser just built (or JSON just parsed): nothing else shares them.
 */
function withoutUndefined<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    if (Array.isArray(value)) {
      for (const item of value) withoutUndefined(item);
    } else {
      const record = value as Record<string, unknown>;
      for (const key in record) {
        const v = record[key];
        if (v === undefined) delete record[key];
        else if (typeof v === 'object' && v !== null) withoutUndefined(v);
      }
    }
  }
  return value;
}

function parseWith<T>(schema: z.ZodType<T>, json: unknown): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ProviderShapeError(firstIssuePath(parsed.error));
  return withoutUndefined(parsed.data);
}

/**
 * Validates the envelope of a /number/1/query response or /number/1/notify acknowledgement: a `results` array
 * whose every item is an object with a string `to`, and a string `bulkId` or none (another type is dropped).
 * Per-result fields pass as they are, unknown ones included: `toLookupResult` checks each of them. Unknown
 * top-level fields are dropped. Throws {@link ProviderShapeError} when the body cannot be used at all.
 */
export function parseResultsResponse(json: unknown): ProviderResultsResponse {
  // By hand rather than with a schema: only the envelope is checked here (every per-number field is checked, and
  // dropped when of the wrong type, by the one mapping every result goes through, sync answers and callbacks
  // alike: lookup/lookup-result.ts), and a schema library copies every result object on the way.
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new ProviderShapeError('(root)');
  const { bulkId, results } = json as { bulkId?: unknown; results?: unknown };
  if (!Array.isArray(results)) throw new ProviderShapeError('results');
  for (let i = 0; i < results.length; i++) {
    const result: unknown = results[i];
    if (result === null || typeof result !== 'object' || Array.isArray(result))
      throw new ProviderShapeError(`results[${i}]`);
    if (typeof (result as { to?: unknown }).to !== 'string') throw new ProviderShapeError(`results[${i}].to`);
  }
  return (typeof bulkId === 'string' ? { bulkId, results } : { results }) as ProviderResultsResponse;
}

/**
 * Validates the JSON of a /number/1/logs response: entries with a string `to`; their known fields of the wrong
 * type are dropped, unknown ones kept. Throws {@link ProviderShapeError} when the body cannot be used at all.
 */
export function parseLogsResponse(json: unknown): ProviderLogsResponse {
  return parseWith(logsResponseSchema, json) as ProviderLogsResponse;
}

/**
 * Extracts `messageId` and `text` from the provider's error body (`{"requestError":{"serviceException":{...}}}`).
 * Returns `{}` for anything else (HTML from a proxy, empty body); never throws.
 */
export function parseErrorBody(text: string): { messageId?: string; text?: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) return {};
  const body: ProviderErrorBody = parsed.data;
  const exception = body.requestError?.serviceException;
  return withoutUndefined({ messageId: exception?.messageId, text: exception?.text });
}
