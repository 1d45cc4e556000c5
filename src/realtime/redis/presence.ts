import type { Logger } from "../../plugins/logger.ts";
import type { Presence, PresenceChange } from "../presence.ts";
import type { RedisConnection } from "./connection.ts";
import { LUA_NOW, RedisScript } from "./script.ts";

export interface RedisPresenceOptions {
  /** Key prefix shared by every instance of one deployment. */
  namespace: string;
  instanceId: string;
  /** How often this instance says it is alive and looks for instances that are not. */
  heartbeatMs: number;
  /** An instance silent this long is dead: its sockets no longer count. */
  expiryMs: number;
  log: Logger;
}

/** Subtracts instance `id`'s sockets from the totals and forgets it; returns who went offline. */
const FORGET = `
local function forget(instances, online, sockets, id)
  redis.call('ZREM', instances, id)
  local counts = redis.call('HGETALL', sockets)
  local offline = {}
  for i = 1, #counts, 2 do
    local total = redis.call('HINCRBY', online, counts[i], -tonumber(counts[i + 1]))
    if total <= 0 then
      redis.call('HDEL', online, counts[i])
      offline[#offline + 1] = counts[i]
    end
  end
  redis.call('DEL', sockets)
  return offline
end`;

/** Refreshes this instance's deadline; `fresh` is 1 when it had been forgotten (swept, or data lost). */
const TOUCH = `${LUA_NOW}
local fresh = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])`;

// KEYS: instances, online, sockets of this instance. ARGV: instance id, expiry, user id.
const CONNECT = new RedisScript(`${TOUCH}
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
return {redis.call('HINCRBY', KEYS[2], ARGV[3], 1), fresh}`);

// KEYS: online, sockets of this instance. ARGV: user id. -1 when this instance's share of the
// user is not there (it was swept, which announced them already).
const DISCONNECT = new RedisScript(`
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if mine <= 0 then return -1 end
if mine == 1 then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HINCRBY', KEYS[2], ARGV[1], -1) end
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if total <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return total`);

const HEARTBEAT = new RedisScript(`${TOUCH}
return fresh`);

// KEYS: instances, online. ARGV: the prefix of the per-instance socket keys. Removing a dead
// instance happens once, inside this script: whichever instance runs it first announces.
const SWEEP = new RedisScript(`${LUA_NOW}${FORGET}
local offline = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)) do
  for _, user in ipairs(forget(KEYS[1], KEYS[2], ARGV[1] .. id, id)) do
    offline[#offline + 1] = user
  end
end
return offline`);

// KEYS: instances, online, sockets. ARGV: instance id, expiry, then user id and count pairs: this
// instance's sockets as it knows them. Rewrites its share of the totals; returns who changed.
const RESYNC = new RedisScript(`${TOUCH}
local delta = {}
local old = redis.call('HGETALL', KEYS[3])
for i = 1, #old, 2 do delta[old[i]] = {tonumber(old[i + 1]), 0} end
for i = 3, #ARGV, 2 do
  local d = delta[ARGV[i]] or {0, 0}
  d[2] = tonumber(ARGV[i + 1])
  delta[ARGV[i]] = d
end
redis.call('DEL', KEYS[3])
local online, offline = {}, {}
for user, d in pairs(delta) do
  if d[2] > 0 then redis.call('HSET', KEYS[3], user, d[2]) end
  if d[1] ~= d[2] then
    local total = redis.call('HINCRBY', KEYS[2], user, d[2] - d[1])
    local before = total - d[2] + d[1]
    if total <= 0 then redis.call('HDEL', KEYS[2], user) end
    if before <= 0 and total > 0 then online[#online + 1] = user end
    if before > 0 and total <= 0 then offline[#offline + 1] = user end
  end
end
return {online, offline}`);

const LEAVE = new RedisScript(`${FORGET}
return forget(KEYS[1], KEYS[2], KEYS[3], ARGV[1])`);

/**
 * Presence across instances. In Redis: `<ns>:instances`, a sorted set of instance ids scored by
 * the time each expires unless it heartbeats again; `<ns>:sockets:<instance>`, a hash of user id
 * → that instance's socket count; `<ns>:online`, a hash of user id → the total over all live
 * instances. Every change is one Lua script, so "became online" and "became offline" are decided
 * atomically across instances: a user with a tab on A and one on B is online once and offline when
 * the last of them closes.
 *
 * Each instance keeps its own counts in memory too: they are the truth for its sockets. While
 * Redis is down it answers from them, and once Redis is back it rewrites its share from them (after
 * a restart, after its entry expired), announcing whatever that changed.
 *
 * Every instance heartbeats and sweeps: an instance that stops heartbeating (crashed, cut off) is
 * removed after `expiryMs`, atomically, by the first live instance to notice, which announces its
 * users who are online nowhere else as offline.
 */
export class RedisPresence implements Presence {
  private readonly sockets = new Map<string, number>();
  private readonly listeners: ((change: PresenceChange) => void | Promise<void>)[] = [];
  private readonly keys: { instances: string; online: string; mine: string; prefix: string };
  private readonly timer: Timer;
  private closed = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: RedisPresenceOptions,
  ) {
    const ns = options.namespace;
    this.keys = {
      instances: `${ns}:instances`,
      online: `${ns}:online`,
      prefix: `${ns}:sockets:`,
      mine: `${ns}:sockets:${options.instanceId}`,
    };
    redis.onReady(() => void this.resync());
    this.timer = setInterval(() => void this.tick(), options.heartbeatMs);
    this.timer.unref();
  }

  onChange(listener: (change: PresenceChange) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  async connect(userId: string): Promise<boolean> {
    const count = (this.sockets.get(userId) ?? 0) + 1;
    this.sockets.set(userId, count);
    if (this.closed) return count === 1;
    try {
      const [total, fresh] = (await CONNECT.run(this.redis, this.ownKeys(), [
        ...this.ownArgs(),
        userId,
      ])) as [number, number];
      if (fresh) void this.resync();
      return total === 1;
    } catch {
      return count === 1;
    }
  }

  async disconnect(userId: string): Promise<boolean> {
    const count = (this.sockets.get(userId) ?? 0) - 1;
    if (count < 0) return false;
    if (count === 0) this.sockets.delete(userId);
    else this.sockets.set(userId, count);
    if (this.closed) return count === 0;
    try {
      const total = await DISCONNECT.run(this.redis, [this.keys.online, this.keys.mine], [userId]);
      return total === 0;
    } catch {
      return count === 0;
    }
  }

  async online(userIds: string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    try {
      const counts = (await this.redis.send("HMGET", [this.keys.online, ...userIds])) as (
        | string
        | null
      )[];
      return userIds.filter((_, i) => Number(counts[i] ?? 0) > 0);
    } catch {
      return userIds.filter((id) => this.sockets.has(id));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    try {
      const offline = (await LEAVE.run(this.redis, this.ownKeys(), [
        this.options.instanceId,
      ])) as string[];
      await this.emit({ userIds: offline, online: false });
    } catch {
      // Redis is down: the other instances sweep this one once its entry expires.
    }
    this.sockets.clear();
  }

  private ownKeys(): string[] {
    return [this.keys.instances, this.keys.online, this.keys.mine];
  }

  private ownArgs(): string[] {
    return [this.options.instanceId, String(this.options.expiryMs)];
  }

  private async tick(): Promise<void> {
    if (this.closed || !this.redis.up) return;
    try {
      const fresh = await HEARTBEAT.run(this.redis, [this.keys.instances], this.ownArgs());
      if (fresh) await this.resync();
      const offline = (await SWEEP.run(
        this.redis,
        [this.keys.instances, this.keys.online],
        [this.keys.prefix],
      )) as string[];
      if (offline.length > 0) {
        this.options.log.info({ users: offline.length }, "presence: swept a silent instance");
        await this.emit({ userIds: offline, online: false });
      }
    } catch (error) {
      this.options.log.warn({ err: error }, "presence tick failed");
    }
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    const counts = [...this.sockets].flatMap(([userId, count]) => [userId, String(count)]);
    try {
      const [online, offline] = (await RESYNC.run(this.redis, this.ownKeys(), [
        ...this.ownArgs(),
        ...counts,
      ])) as [string[], string[]];
      await this.emit({ userIds: online, online: true });
      await this.emit({ userIds: offline, online: false });
    } catch (error) {
      this.options.log.warn({ err: error }, "presence resync failed");
    }
  }

  private async emit(change: PresenceChange): Promise<void> {
    if (change.userIds.length === 0) return;
    await Promise.allSettled(this.listeners.map(async (listener) => listener(change)));
  }
}
