import type { Logger } from "../../plugins/logger.ts";
import type { Broker, Publisher } from "../broker.ts";
import { RedisConnection, type RedisConnectionOptions } from "./connection.ts";

/** A topic and a message for it. */
export interface Fanout {
  topic: string;
  message: string;
}

/**
 * Many fan-outs in one Redis payload: `<topic>\n<message length>\n<message>`, repeated. Lengths
 * are in UTF-16 code units, as both ends count them. Topics never hold a newline (topics.ts).
 */
export function encodeFanouts(fanouts: Fanout[]): string {
  let payload = "";
  for (const { topic, message } of fanouts) payload += `${topic}\n${message.length}\n${message}`;
  return payload;
}

/**
 * The fan-outs in a payload; also reads the one-fan-out form `<topic>\n<message>` that instances
 * before batching sent (a JSON message never starts with a digit and a newline), so a rolling
 * deploy keeps working. Undefined when the payload is malformed.
 */
export function decodeFanouts(payload: string): Fanout[] | undefined {
  const fanouts: Fanout[] = [];
  let at = 0;
  while (at < payload.length) {
    const topicEnd = payload.indexOf("\n", at);
    if (topicEnd <= at) return undefined;
    const topic = payload.slice(at, topicEnd);
    const lengthEnd = payload.indexOf("\n", topicEnd + 1);
    const length = lengthEnd > topicEnd ? payload.slice(topicEnd + 1, lengthEnd) : "";
    if (!/^\d+$/.test(length)) {
      if (fanouts.length > 0) return undefined;
      return [{ topic, message: payload.slice(topicEnd + 1) }];
    }
    const end = lengthEnd + 1 + Number(length);
    if (end > payload.length) return undefined;
    fanouts.push({ topic, message: payload.slice(lengthEnd + 1, end) });
    at = end;
  }
  return fanouts.length > 0 ? fanouts : undefined;
}

/**
 * Fan-out across instances through one Redis channel. Every instance subscribes once, to that
 * channel (never per topic or per socket), and republishes what arrives to its own sockets with
 * Bun's `server.publish`; Bun then drops it for topics nobody here subscribed to. A publish goes
 * to Redis only, so each socket gets it exactly once, from its own instance.
 *
 * What one piece of work publishes (a message to each member, the end of the sender's typing, and
 * those of every other message that a batch stored) goes to Redis as one PUBLISH, gathered until
 * the current run of microtasks is done: a message to a chat of two was three commands and three
 * deliveries to every instance.
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
  readonly spansInstances = true;
  private server: Publisher | undefined;
  /** Held by the one subscription: a subscribed connection can run little besides PING. */
  private readonly subscriber: RedisConnection;
  /** False until the first subscription: only a later one follows an outage. */
  private subscribedBefore = false;
  private readonly recoveryListeners: (() => void)[] = [];
  private readonly log: Logger;
  /**
   * Published since the last flush, sent together once the current microtasks are done; `local`
   * when our sockets already got it (the subscription was down).
   */
  private pending: (Fanout & { local: boolean })[] = [];

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
    const fanouts = decodeFanouts(payload);
    if (!fanouts) {
      this.log.warn({ channel: this.channel }, "ignored a malformed fan-out payload");
      return;
    }
    for (const { topic, message } of fanouts) this.server?.publish(topic, message);
  };

  attach(server: Publisher): void {
    this.server = server;
  }

  publish(topic: string, message: string): void {
    // Without both connections, our own publish would not come back to our sockets.
    const local = !this.subscriber.up || !this.commands.up;
    if (local) this.server?.publish(topic, message);
    if (!this.commands.up) return;
    this.pending.push({ topic, message, local });
    if (this.pending.length === 1) queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    // Rejected when the connection dropped before the command left, or when Redis did not answer
    // in time (the connection is dropped then too): our sockets get it here rather than never.
    this.commands.publish(this.channel, encodeFanouts(batch)).catch(() => {
      for (const { topic, message, local } of batch)
        if (!local) this.server?.publish(topic, message);
    });
  };

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
