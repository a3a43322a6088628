import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LookupResultData } from '../lookup/lookup-result';
import type {
  Acknowledgement,
  AddResultsOutcome,
  RequestRecord,
  RequestState,
  RequestStore,
} from './request-store';

// KEYS: meta, results, order, pending. ARGV: id, nowIso, nowMs, then number/json pairs.
// One script, so two instances storing the same number at once cannot both win (first writer wins: HSETNX),
// and a request cannot take a result after its expiry time (the pending set's score) even if no sweep ran yet.
// Reply: false (unknown request) or {state, added numbers, completedNow, expiredNow, numbers still pending}.
const ADD_RESULTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'PENDING' then
  local due = redis.call('ZSCORE', KEYS[4], ARGV[1])
  if due and tonumber(due) <= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'state', 'EXPIRED', 'completedAt', ARGV[2])
    redis.call('ZREM', KEYS[4], ARGV[1])
    return {'EXPIRED', {}, 0, 1, total - redis.call('HLEN', KEYS[2])}
  end
end
if state ~= 'PENDING' then return {state, {}, 0, 0, total - redis.call('HLEN', KEYS[2])} end
local added = {}
for i = 4, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('RPUSH', KEYS[3], ARGV[i])
    added[#added + 1] = ARGV[i]
  end
end
local stored = redis.call('HLEN', KEYS[2])
local completed = 0
if stored >= total then
  redis.call('HSET', KEYS[1], 'state', 'COMPLETED', 'completedAt', ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[1])
  state = 'COMPLETED'
  completed = 1
end
if #added > 0 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[2], ttl)
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
end
return {state, added, completed, 0, math.max(total - stored, 0)}
`;

// KEYS: meta, pending. ARGV: id, nowIso.
const EXPIRE = `
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'state') ~= 'PENDING' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'EXPIRED', 'completedAt', ARGV[2])
return 1
`;

// KEYS: meta. ARGV: bulk ids (JSON array), message ids by number (JSON object), both to merge.
// cjson writes every empty table as {}, so an empty list is spelled out by hand.
const ADD_ACKNOWLEDGEMENT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local bulkIds = cjson.decode(redis.call('HGET', KEYS[1], 'bulkIds') or '[]')
local seen = {}
for _, b in ipairs(bulkIds) do seen[b] = true end
for _, b in ipairs(cjson.decode(ARGV[1])) do
  if not seen[b] then bulkIds[#bulkIds + 1] = b; seen[b] = true end
end
local messageIds = cjson.decode(redis.call('HGET', KEYS[1], 'messageIds') or '{}')
for number, messageId in pairs(cjson.decode(ARGV[2])) do
  if messageIds[number] == nil then messageIds[number] = messageId end
end
redis.call('HSET', KEYS[1],
  'bulkIds', #bulkIds == 0 and '[]' or cjson.encode(bulkIds),
  'messageIds', next(messageIds) == nil and '{}' or cjson.encode(messageIds))
return 1
`;

// KEYS: pending. ARGV: nowMs, limit, meta key prefix, most ids to look at.
// Walks the due ids earliest first and drops, in the same step, those whose request is gone (retention, eviction,
// a Redis that lost its data) or is no longer PENDING: nothing else would ever remove them, and the sweep, which
// reads only the first `limit`, would stall behind them for good. Live ids stay in the set, so the next page
// starts after those collected. The meta keys are derived here, not passed in KEYS: one Redis, not a cluster.
const DUE_FOR_EXPIRY = `
local limit = tonumber(ARGV[2])
local budget = tonumber(ARGV[4])
local due = {}
while #due < limit and budget > 0 do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', #due, math.min(limit - #due, budget))
  if #page == 0 then break end
  for _, id in ipairs(page) do
    budget = budget - 1
    if redis.call('HGET', ARGV[3] .. id, 'state') == 'PENDING' then
      due[#due + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
return due
`;

/** A Lua script run by its SHA (EVALSHA), sent in full only when Redis does not know it yet. */
class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!/NOSCRIPT/.test((error as Error).message)) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const addResultsScript = new LuaScript(ADD_RESULTS);
const expireScript = new LuaScript(EXPIRE);
const addAcknowledgementScript = new LuaScript(ADD_ACKNOWLEDGEMENT);
const dueForExpiryScript = new LuaScript(DUE_FOR_EXPIRY);

/** Most ids one expiry query looks at, gone ones included: bounds how long the script holds Redis. */
const DUE_SCAN_BUDGET = 5_000;

/**
 * Redis request store, shared by every instance. Layout per request (all expire with the retention TTL):
 * `<prefix>req:<id>` hash of metadata, `…:results` hash number → result JSON, `…:order` list of numbers in
 * arrival order; plus one sorted set `<prefix>pending` of PENDING ids scored by expiry time (an id leaves it
 * when its request completes, expires or is deleted, or when the expiry query finds its request gone). Every
 * mutation is one Lua script or MULTI, so a failure never leaves a request half-written. Methods reject when Redis is unreachable (the connection should have
 * no offline queue, so that happens at once) or a command times out; callers answer 503 then.
 */
export class RedisRequestStore implements RequestStore {
  private readonly prefix: string;

  /**
   * @param redis a connection of the caller's, connected and quit by the caller (best without offline queue).
   * @param options.keyPrefix prefix of every key, default `nlg:`.
   */
  constructor(
    private readonly redis: Redis,
    options: { keyPrefix?: string } = {},
  ) {
    this.prefix = options.keyPrefix ?? 'nlg:';
  }

  private keys(id: string) {
    const meta = `${this.prefix}req:${id}`;
    return { meta, results: `${meta}:results`, order: `${meta}:order`, pending: `${this.prefix}pending` };
  }

  async create(record: RequestRecord, retentionMs: number): Promise<void> {
    const k = this.keys(record.id);
    const fields: Record<string, string> = {
      id: record.id,
      secretHash: record.secretHash,
      to: JSON.stringify(record.to),
      total: String(record.to.length),
      state: record.state,
      bulkIds: JSON.stringify(record.bulkIds),
      messageIds: JSON.stringify(record.messageIds),
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
    };
    if (record.ownerId) fields.ownerId = record.ownerId;
    await this.redis
      .multi()
      .hset(k.meta, fields)
      .pexpire(k.meta, retentionMs)
      .zadd(k.pending, Date.parse(record.expiresAt), record.id)
      .exec()
      .then(throwOnFailedExec);
  }

  async get(id: string): Promise<RequestRecord | null> {
    const k = this.keys(id);
    const replies = await this.redis
      .multi()
      .hgetall(k.meta)
      .hgetall(k.results)
      .lrange(k.order, 0, -1)
      .exec()
      .then(throwOnFailedExec);
    const meta = replies[0] as Record<string, string>;
    if (!meta || !meta.id) return null;
    const byNumber = replies[1] as Record<string, string>;
    const order = replies[2] as string[];
    return {
      id: meta.id,
      secretHash: meta.secretHash,
      ...(meta.ownerId ? { ownerId: meta.ownerId } : {}),
      to: JSON.parse(meta.to) as string[],
      state: meta.state as RequestState,
      bulkIds: JSON.parse(meta.bulkIds ?? '[]') as string[],
      // Absent on records written before message ids were kept.
      messageIds: JSON.parse(meta.messageIds ?? '{}') as Record<string, string>,
      results: order
        .filter((n) => byNumber[n] !== undefined)
        .map((n) => JSON.parse(byNumber[n]) as LookupResultData),
      createdAt: meta.createdAt,
      ...(meta.completedAt ? { completedAt: meta.completedAt } : {}),
      expiresAt: meta.expiresAt,
    };
  }

  async addAcknowledgement(id: string, ack: Acknowledgement): Promise<void> {
    await addAcknowledgementScript.run(
      this.redis,
      [this.keys(id).meta],
      [JSON.stringify(ack.bulkIds), JSON.stringify(ack.messageIds)],
    );
  }

  async addResults(
    id: string,
    results: LookupResultData[],
    nowIso: string,
  ): Promise<AddResultsOutcome | null> {
    const k = this.keys(id);
    const byNumber = new Map(results.map((r) => [r.to, r]));
    const args: string[] = [id, nowIso, String(Date.parse(nowIso))];
    for (const [to, result] of byNumber) args.push(to, JSON.stringify(result));
    const reply = (await addResultsScript.run(this.redis, [k.meta, k.results, k.order, k.pending], args)) as
      [RequestState, string[], number, number, number] | null;
    if (!reply) return null;
    const [state, addedNumbers, completed, expired, pending] = reply;
    return {
      added: addedNumbers.map((n) => byNumber.get(n) as LookupResultData),
      state,
      completedNow: completed === 1,
      expiredNow: expired === 1,
      pending,
    };
  }

  async expire(id: string, nowIso: string): Promise<boolean> {
    const k = this.keys(id);
    return (await expireScript.run(this.redis, [k.meta, k.pending], [id, nowIso])) === 1;
  }

  async dueForExpiry(nowMs: number, limit: number): Promise<string[]> {
    const args = [
      String(nowMs),
      String(limit),
      `${this.prefix}req:`,
      String(Math.max(limit, DUE_SCAN_BUDGET)),
    ];
    return (await dueForExpiryScript.run(this.redis, [`${this.prefix}pending`], args)) as string[];
  }

  async delete(id: string): Promise<void> {
    const k = this.keys(id);
    await this.redis
      .multi()
      .del(k.meta, k.results, k.order)
      .zrem(k.pending, id)
      .exec()
      .then(throwOnFailedExec);
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async dispose(): Promise<void> {
    // The connection belongs to whoever created it.
  }
}

function throwOnFailedExec(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('Redis transaction aborted');
  return replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
