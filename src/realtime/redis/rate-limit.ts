import { MemoryRateLimiter, type RateLimiter, type RateRule } from "../rate-limit.ts";
import type { RedisConnection } from "./connection.ts";
import { LUA_NOW, RedisScript } from "./script.ts";

// The memory limiter's token bucket, kept in a Redis hash (tokens, at) and timed by Redis's clock.
// KEYS: the bucket. ARGV: burst, per second. The key expires once the bucket would be full again.
const TAKE = new RedisScript(`${LUA_NOW}
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed`);

/**
 * Limits counted in Redis, so a client cannot multiply its allowance by spreading its sockets over
 * several instances. Same rules as the memory limiter. While Redis is down each instance counts on
 * its own: a limit per instance beats refusing everyone or letting everything through.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly fallback = new MemoryRateLimiter();

  constructor(
    private readonly redis: RedisConnection,
    private readonly namespace: string,
  ) {}

  async take(key: string, rule: RateRule): Promise<boolean> {
    if (!this.redis.up) return this.fallback.take(key, rule);
    try {
      const allowed = await TAKE.run(
        this.redis,
        [`${this.namespace}:rate:${key}`],
        [rule.burst, rule.perSecond],
      );
      return allowed === 1;
    } catch {
      return this.fallback.take(key, rule);
    }
  }

  async close(): Promise<void> {
    await this.fallback.close();
  }
}
