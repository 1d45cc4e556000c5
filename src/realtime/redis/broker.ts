import type { Logger } from "../../plugins/logger.ts";
import type { Broker, Publisher } from "../broker.ts";
import { RedisConnection, type RedisConnectionOptions } from "./connection.ts";

/** Topic and message in one Redis payload. Topics never hold a newline (see topics.ts). */
export function encodeFanout(topic: string, message: string): string {
  return `${topic}\n${message}`;
}

export function decodeFanout(payload: string): { topic: string; message: string } | undefined {
  const cut = payload.indexOf("\n");
  if (cut <= 0) return undefined;
  return { topic: payload.slice(0, cut), message: payload.slice(cut + 1) };
}

/**
 * Fan-out across instances through one Redis channel. Every instance subscribes once, to that
 * channel (never per topic or per socket), and republishes what arrives to its own sockets with
 * Bun's `server.publish`; Bun then drops it for topics nobody here subscribed to. A publish goes
 * to Redis only, so each socket gets it exactly once, from its own instance.
 *
 * The cost: every event crosses to every instance, whether or not it holds a socket for it. That
 * is right for a handful of instances; beyond that, shard the channel (by user id, say) and have
 * each instance subscribe to the shards of the users it holds.
 *
 * While Redis is down, or hung (see RedisConnection), events are published locally instead, so
 * the sockets on this instance keep working as a single server would; the other instances miss
 * them until Redis is back, and their clients catch up with `after=<seq>` like after any gap.
 */
export class RedisBroker implements Broker {
  private server: Publisher | undefined;
  /** Held by the one subscription: a subscribed connection can run little besides PING. */
  private readonly subscriber: RedisConnection;
  /** False until the first subscription: only a later one follows an outage. */
  private subscribedBefore = false;
  private readonly recoveryListeners: (() => void)[] = [];
  private readonly log: Logger;

  /** `redis` says how to reach Redis; the subscription gets a connection of its own from it. */
  constructor(
    redis: Omit<RedisConnectionOptions, "role" | "setup">,
    private readonly commands: RedisConnection,
    private readonly channel: string,
  ) {
    this.log = redis.log;
    this.subscriber = new RedisConnection({
      ...redis,
      role: "subscriber",
      setup: (client) => client.subscribe(channel, this.receive),
    });
    this.subscriber.onReady(() => {
      if (this.subscribedBefore) for (const listener of this.recoveryListeners) listener();
      this.subscribedBefore = true;
    });
    this.subscriber.start();
  }

  onRecovered(listener: () => void): void {
    this.recoveryListeners.push(listener);
  }

  private readonly receive = (payload: string): void => {
    const fanout = decodeFanout(payload);
    if (!fanout) {
      this.log.warn({ channel: this.channel }, "ignored a malformed fan-out payload");
      return;
    }
    this.server?.publish(fanout.topic, fanout.message);
  };

  attach(server: Publisher): void {
    this.server = server;
  }

  publish(topic: string, message: string): void {
    // Without both connections, our own publish would not come back to our sockets.
    const local = !this.subscriber.up || !this.commands.up;
    if (local) this.server?.publish(topic, message);
    if (!this.commands.up) return;
    // Rejected when the connection dropped before the command left, or when Redis did not answer
    // in time (the connection is dropped then too): our sockets get it here rather than never.
    this.commands.publish(this.channel, encodeFanout(topic, message)).catch(() => {
      if (!local) this.server?.publish(topic, message);
    });
  }

  connected(): boolean {
    return this.commands.up && this.subscriber.up;
  }

  /** Both connections up, and each answers a PING in time (a silent one is dropped meanwhile). */
  async healthy(): Promise<boolean> {
    if (!this.commands.up || !this.subscriber.up) return false;
    const answers = await Promise.all([this.commands.ping(), this.subscriber.ping()]);
    return answers.every(Boolean);
  }

  async close(): Promise<void> {
    this.server = undefined;
    await this.subscriber.close();
  }
}
