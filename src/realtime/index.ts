import type { Config } from "../config.ts";
import type { Logger } from "../plugins/logger.ts";
import { type Broker, LocalBroker, type Publisher } from "./broker.ts";
import { Hub } from "./hub.ts";
import { MemoryPresence, type Presence } from "./presence.ts";
import { MemoryRateLimiter, type RateLimiter } from "./rate-limit.ts";
import { RedisBroker } from "./redis/broker.ts";
import { RedisConnection } from "./redis/connection.ts";
import { RedisPresence } from "./redis/presence.ts";
import { RedisRateLimiter } from "./redis/rate-limit.ts";
import { loadScripts } from "./redis/script.ts";
import { topics } from "./topics.ts";

/** The realtime backbone: one broker, the hub over it, presence and rate limits. */
export interface Realtime {
  broker: Broker;
  hub: Hub;
  presence: Presence;
  /**
   * Who is in a room's call, counted in sockets under `<roomId>:<userId>`: kept apart from user
   * presence, with the same crash handling (an instance that dies takes its callers with it).
   */
  roomPresence: Presence;
  limiter: RateLimiter;
  /**
   * Hands the listening server to the broker; call once `listen` has returned. What the broker
   * delivers on the control topic goes to `onControl` instead of to sockets.
   */
  attach(server: Publisher, listeners: InstanceListeners): void;
  close(): Promise<void>;
}

/** What the instance itself hears from every instance, rather than its sockets. */
export interface InstanceListeners {
  /** Instructions to the gateways (closing sockets, membership changes, calls). */
  control(message: string): void;
  /** How far another instance wrote in its chats (the message log's guesses). */
  positions(message: string): void;
}

/** Routes the instance's own topics to their listeners and everything else to the sockets. */
function withListeners(server: Publisher, listeners: InstanceListeners): Publisher {
  return {
    publish(topic, data) {
      if (topic === topics.control) listeners.control(data);
      else if (topic === topics.positions) listeners.positions(data);
      else return server.publish(topic, data);
      return 0;
    },
  };
}

/** Tuning for the Redis implementations; the defaults are for production. */
export interface RealtimeOptions {
  /** Prefix of every Redis key and of the fan-out channel; instances of one deployment share it. */
  namespace?: string;
  /** This instance's name in Redis; random by default. */
  instanceId?: string;
  /** How often an instance heartbeats and sweeps dead ones. */
  heartbeatMs?: number;
  /** How long a silent instance's sockets still count as online. */
  expiryMs?: number;
  /**
   * How long Redis may take to answer a command, a ping or a connection attempt before the
   * connection counts as lost (1 s): meanwhile the instance works locally, as with Redis down.
   */
  redisTimeoutMs?: number;
  /** How often each Redis connection is pinged, so that a silent one is found (1 s). */
  redisPingMs?: number;
}

/** Single-instance implementations, or the Redis ones when `REDIS_URL` is set. */
export function createRealtime(
  config: Config,
  log: Logger,
  options: RealtimeOptions = {},
): Realtime {
  if (config.redisUrl) return redisRealtime(config.redisUrl, log, options);
  const broker = new LocalBroker();
  const presence = new MemoryPresence();
  const roomPresence = new MemoryPresence();
  const limiter = new MemoryRateLimiter();
  return realtimeOf(broker, presence, roomPresence, limiter, async () => {
    await Promise.all([broker.close(), presence.close(), roomPresence.close(), limiter.close()]);
  });
}

function realtimeOf(
  broker: Broker,
  presence: Presence,
  roomPresence: Presence,
  limiter: RateLimiter,
  close: () => Promise<void>,
): Realtime {
  return {
    broker,
    hub: new Hub(broker),
    presence,
    roomPresence,
    limiter,
    attach: (server, listeners) => broker.attach(withListeners(server, listeners)),
    close,
  };
}

/**
 * Two connections per instance: this one for commands (publish, presence, rate limits), and the
 * broker's own for its single subscription.
 */
function redisRealtime(url: string, log: Logger, options: RealtimeOptions): Realtime {
  const namespace = options.namespace ?? "rt";
  const instanceId = options.instanceId ?? crypto.randomUUID();
  const redis = { url, log, timeoutMs: options.redisTimeoutMs, pingMs: options.redisPingMs };
  const commands = new RedisConnection({ ...redis, role: "commands", setup: loadScripts });
  const broker = new RedisBroker(redis, commands, `${namespace}:fanout`);
  const timing = {
    instanceId,
    heartbeatMs: options.heartbeatMs ?? 3000,
    expiryMs: options.expiryMs ?? 10_000,
    log,
  };
  const presence = new RedisPresence(commands, { namespace, ...timing });
  const roomPresence = new RedisPresence(commands, { namespace: `${namespace}:rooms`, ...timing });
  const limiter = new RedisRateLimiter(commands, namespace);
  log.info({ instanceId }, "realtime: scaling out through redis");
  commands.start();
  return realtimeOf(broker, presence, roomPresence, limiter, async () => {
    // Presence first: leaving announces this instance's users, which needs the broker.
    await Promise.all([presence.close(), roomPresence.close()]);
    await Promise.all([broker.close(), limiter.close()]);
    await commands.close();
  });
}
