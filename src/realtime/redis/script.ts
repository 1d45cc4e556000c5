import type { RedisClient } from "bun";
import type { RedisConnection } from "./connection.ts";

/**
 * A Lua script, run atomically by Redis, by its SHA1 digest. Every script is loaded when the
 * commands connection (re)connects, before it counts as up (see `loadScripts`): were one loaded
 * lazily, its retry could overtake a command sent after it. The fallback to EVAL covers a script
 * cache flushed under a live connection.
 */
export class RedisScript {
  static readonly all: RedisScript[] = [];
  private readonly sha: string;

  constructor(readonly body: string) {
    this.sha = new Bun.CryptoHasher("sha1").update(body).digest("hex");
    RedisScript.all.push(this);
  }

  async run(redis: RedisConnection, keys: string[], args: (string | number)[]): Promise<unknown> {
    const params = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await redis.send("EVALSHA", [this.sha, ...params]);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return redis.send("EVAL", [this.body, ...params]);
    }
  }
}

/** Redis's own clock in milliseconds, so instances whose clocks disagree still agree on expiry. */
export const LUA_NOW =
  "local clock = redis.call('TIME'); local now = clock[1] * 1000 + math.floor(clock[2] / 1000)";

/** The commands connection's setup: every script known to this process, loaded into Redis. */
export function loadScripts(client: RedisClient): Promise<unknown> {
  return Promise.all(RedisScript.all.map((script) => client.send("SCRIPT", ["LOAD", script.body])));
}
