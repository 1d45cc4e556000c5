import { Expo } from "expo-server-sdk";
import type { Clock } from "../../clock.ts";
import type { PushConfig } from "../../config.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Presence } from "../../realtime/presence.ts";
import type { DeviceService } from "../devices/service.ts";
import type { MessageStored, StoredListener } from "../messages/service.ts";
import { pushContent } from "./content.ts";
import { ExpoDelivery, type PushMessage } from "./delivery.ts";

/** How long a message waits for others to share its flush (one presence and one device query). */
const FLUSH_MS = 50;
/** Messages per flush; this many waiting flush at once. */
const BATCH = 100;
/** Messages waiting at most; past this the oldest are dropped (Expo is down or slow). */
const MAX_QUEUE = 10_000;

export interface PushNotifierDeps {
  presence: Presence;
  devices: DeviceService;
  delivery: ExpoDelivery;
  log: Logger;
}

/**
 * Pushes each stored message to the members who have no open socket on any instance (the
 * contract's "Push notifications"). Told of a message, it only queues it: a send never waits for
 * Expo, nor fails because of it. A flush every 50 ms asks presence and the devices once for all
 * it takes, and hands the notifications to Expo; one flush runs at a time, so a slow Expo lets the
 * queue grow (to its bound) rather than the requests.
 */
export class PushNotifier implements StoredListener {
  private queue: MessageStored[] = [];
  private dropped = 0;
  private timer: Timer | undefined;
  private timerDue = 0;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: PushNotifierDeps) {}

  static fromConfig(
    config: PushConfig,
    deps: { presence: Presence; devices: DeviceService; log: Logger; clock: Clock },
  ): PushNotifier {
    const expo = new Expo({
      accessToken: config.accessToken,
      // The SDK retries a 429 twice by itself, from this delay.
      retryMinTimeout: config.retryBaseMs,
    });
    const delivery = new ExpoDelivery({
      expo,
      devices: deps.devices,
      log: deps.log,
      clock: deps.clock,
      retryBaseMs: config.retryBaseMs,
      receiptDelayMs: config.receiptDelayMs,
    });
    return new PushNotifier({ ...deps, delivery });
  }

  messageStored(event: MessageStored): void {
    if (this.stopped) return;
    if (this.queue.length >= MAX_QUEUE) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(event);
    this.schedule();
  }

  /** Clears the timers; what is queued is dropped, a request in flight ends by itself. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.deps.delivery.stop();
  }

  /** A flush in 50 ms, or at once for a full batch; a running flush schedules the next itself. */
  private schedule(): void {
    if (this.flushing || this.stopped || this.queue.length === 0) return;
    const delay = this.queue.length >= BATCH ? 0 : FLUSH_MS;
    if (this.timer && this.timerDue <= Date.now() + delay) return;
    clearTimeout(this.timer);
    this.timerDue = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startFlush();
    }, delay);
    this.timer.unref();
  }

  private startFlush(): void {
    const events = this.queue.splice(0, BATCH);
    if (this.dropped > 0) {
      this.deps.log.warn({ dropped: this.dropped }, "push: queue full; oldest messages dropped");
      this.dropped = 0;
    }
    this.flushing = this.flush(events)
      .catch((error) => this.deps.log.warn({ err: error }, "push: a flush failed"))
      .finally(() => {
        this.flushing = undefined;
        this.schedule();
      });
  }

  private async flush(events: MessageStored[]): Promise<void> {
    const { presence, devices, delivery } = this.deps;
    const recipients = new Map<MessageStored, string[]>();
    const everyone = new Set<string>();
    for (const event of events) {
      const others = [...new Set(event.chat.memberIds)].filter(
        (id) => id !== event.message.sender._id,
      );
      recipients.set(event, others);
      for (const id of others) everyone.add(id);
    }
    if (everyone.size === 0) return;
    // Online on any instance: presence is Redis's when instances share it.
    const online = new Set(await presence.online([...everyone]));
    const offline = [...everyone].filter((id) => !online.has(id));
    if (offline.length === 0) return;
    const tokens = await devices.tokensOf(offline);
    const messages: PushMessage[] = [];
    for (const [event, others] of recipients) {
      const content = pushContent(event);
      for (const id of others) {
        if (online.has(id)) continue;
        for (const to of tokens.get(id) ?? []) messages.push({ ...content, to });
      }
    }
    await delivery.send(messages);
  }
}
