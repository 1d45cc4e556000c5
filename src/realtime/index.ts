import type { Config } from "../config.ts";
import { type Broker, LocalBroker, type Publisher } from "./broker.ts";
import { Hub } from "./hub.ts";
import { MemoryPresence, type Presence } from "./presence.ts";
import { MemoryRateLimiter, type RateLimiter } from "./rate-limit.ts";

/** The realtime backbone: one broker, the hub over it, presence and rate limits. */
export interface Realtime {
  broker: Broker;
  hub: Hub;
  presence: Presence;
  limiter: RateLimiter;
  /** Hands the listening server to the broker; call once `listen` has returned. */
  attach(server: Publisher): void;
  close(): Promise<void>;
}

/** Single-instance implementations; the Redis ones take over when `REDIS_URL` is set. */
export function createRealtime(_config: Config): Realtime {
  const broker = new LocalBroker();
  const presence = new MemoryPresence();
  const limiter = new MemoryRateLimiter();
  return {
    broker,
    hub: new Hub(broker),
    presence,
    limiter,
    attach: (server) => broker.attach(server),
    async close() {
      await Promise.all([broker.close(), presence.close(), limiter.close()]);
    },
  };
}
