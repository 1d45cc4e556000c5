import type {
  Expo,
  ExpoPushMessage,
  ExpoPushReceipt,
  ExpoPushReceiptId,
  ExpoPushTicket,
} from "expo-server-sdk";
import type { Clock } from "../../clock.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { DeviceService } from "../devices/service.ts";

/** One notification to one device: `to` is a single token, so a ticket names its token. */
export type PushMessage = ExpoPushMessage & { to: string };

export interface DeliveryOptions {
  expo: Expo;
  devices: DeviceService;
  log: Logger;
  clock: Clock;
  /** The first retry's delay; each retry doubles it. */
  retryBaseMs: number;
  /** How long after a push its receipt is read. */
  receiptDelayMs: number;
}

/** The first try and three retries (1 s, 2 s, 4 s by default). */
const ATTEMPTS = 4;
const MAX_RETRY_DELAY_MS = 30_000;
/** The SDK sets no deadline of its own, and Bun's idle timeout is five minutes. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Receipts waiting to be read; past this the oldest are given up (a token is reported again). */
const MAX_PENDING_RECEIPTS = 50_000;

interface PendingReceipt {
  token: string;
  sentAt: Date;
  /** Date.now() from when it may be read. */
  dueAt: number;
}

class PushTimeoutError extends Error {
  override name = "PushTimeoutError";
}

/** Network failures (no status), timeouts, 429 and 5xx pass; another 4xx will not get better. */
function retryable(error: unknown): boolean {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status !== "number" || status === 429 || status >= 500;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PushTimeoutError()), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function countInto(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * Hands notifications to Expo and acts on what it reports. Each chunk is sent with retries and
 * exponential backoff; a ticket or, later, a receipt saying `DeviceNotRegistered` deletes its
 * token. Nothing here throws: what cannot be delivered is logged (counts and error classes, never
 * a token) and dropped.
 */
export class ExpoDelivery {
  /** Receipt id → its push; in the order they fall due. */
  private readonly pending = new Map<ExpoPushReceiptId, PendingReceipt>();
  private receiptsDropped = 0;
  private timer: Timer | undefined;
  private reading: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: DeliveryOptions) {}

  async send(messages: PushMessage[]): Promise<void> {
    if (messages.length === 0 || this.stopped) return;
    const chunks = this.options.expo.chunkPushNotifications(messages) as PushMessage[][];
    // The SDK sends at most six requests at once, whatever is asked of it.
    await Promise.all(chunks.map((chunk) => this.sendChunk(chunk)));
    this.scheduleReceipts();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private async sendChunk(chunk: PushMessage[]): Promise<void> {
    const { expo, log, clock } = this.options;
    const sentAt = clock.now();
    let tickets: ExpoPushTicket[];
    try {
      tickets = await this.withRetry(() => expo.sendPushNotificationsAsync(chunk));
    } catch (error) {
      log.warn(
        { err: error, notifications: chunk.length },
        "push: Expo did not take notifications",
      );
      return;
    }
    const gone: { token: string; sentAt: Date }[] = [];
    const refused: Record<string, number> = {};
    tickets.forEach((ticket, i) => {
      const token = chunk[i]!.to;
      if (ticket.status === "ok") this.expectReceipt(ticket.id, token, sentAt);
      else if (ticket.details?.error === "DeviceNotRegistered") gone.push({ token, sentAt });
      else countInto(refused, ticket.details?.error ?? "unknown");
    });
    if (Object.keys(refused).length > 0) log.warn({ refused }, "push: Expo refused notifications");
    await this.forget(gone);
  }

  private expectReceipt(id: ExpoPushReceiptId, token: string, sentAt: Date): void {
    if (this.pending.size >= MAX_PENDING_RECEIPTS) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
      this.receiptsDropped++;
    }
    this.pending.set(id, { token, sentAt, dueAt: Date.now() + this.options.receiptDelayMs });
  }

  /** One timer, for the receipt that falls due first; reading reschedules it. */
  private scheduleReceipts(): void {
    if (this.timer || this.reading || this.stopped) return;
    const first = this.pending.values().next().value;
    if (!first) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.reading = this.readReceipts()
          .catch((error) => this.options.log.warn({ err: error }, "push: reading receipts failed"))
          .finally(() => {
            this.reading = undefined;
            this.scheduleReceipts();
          });
      },
      Math.max(0, first.dueAt - Date.now()),
    );
    this.timer.unref();
  }

  private async readReceipts(): Promise<void> {
    const { expo, log } = this.options;
    if (this.receiptsDropped > 0) {
      log.warn(
        { dropped: this.receiptsDropped },
        "push: too many receipts waiting; oldest dropped",
      );
      this.receiptsDropped = 0;
    }
    const now = Date.now();
    const due = new Map<ExpoPushReceiptId, PendingReceipt>();
    for (const [id, receipt] of this.pending) {
      if (receipt.dueAt > now) break;
      due.set(id, receipt);
      this.pending.delete(id);
    }
    for (const ids of expo.chunkPushNotificationReceiptIds([...due.keys()])) {
      let receipts: Record<ExpoPushReceiptId, ExpoPushReceipt>;
      try {
        receipts = await this.withRetry(() => expo.getPushNotificationReceiptsAsync(ids));
      } catch (error) {
        log.warn({ err: error, receipts: ids.length }, "push: receipts could not be read");
        continue;
      }
      const gone: { token: string; sentAt: Date }[] = [];
      const failed: Record<string, number> = {};
      for (const id of ids) {
        // A receipt not there yet is not asked for again: a dead token is reported next time.
        const receipt = receipts[id];
        if (!receipt || receipt.status === "ok") continue;
        if (receipt.details?.error === "DeviceNotRegistered") gone.push(due.get(id)!);
        else countInto(failed, receipt.details?.error ?? "unknown");
      }
      if (Object.keys(failed).length > 0) log.warn({ failed }, "push: notifications not delivered");
      await this.forget(gone);
    }
  }

  private async forget(reports: { token: string; sentAt: Date }[]): Promise<void> {
    if (reports.length === 0) return;
    try {
      const deleted = await this.options.devices.forget(reports);
      this.options.log.info({ deleted }, "push: unregistered devices deleted");
    } catch (error) {
      // Reported again on the next push to them.
      this.options.log.warn({ err: error }, "push: unregistered devices could not be deleted");
    }
  }

  private async withRetry<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withDeadline(request(), REQUEST_TIMEOUT_MS);
      } catch (error) {
        if (attempt >= ATTEMPTS || this.stopped || !retryable(error)) throw error;
        const delay = this.options.retryBaseMs * 2 ** (attempt - 1);
        await sleep(Math.min(delay, MAX_RETRY_DELAY_MS));
      }
    }
  }
}
