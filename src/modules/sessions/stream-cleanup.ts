import type { Clock } from "../../clock.ts";
import type { Models } from "../../db/models/index.ts";
import type { StreamCleanupDoc } from "../../db/models/stream-cleanup.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { StreamService } from "../stream/service.ts";

/** Which of a session's Stream resources are still to be deleted. */
export interface StreamParts {
  call: boolean;
  channel: boolean;
}

/** Longest wait between two attempts, however often Stream has failed. */
const MAX_BACKOFF_MS = 10 * 60 * 1000;
/** How long an attempt in flight keeps a record from other attempts (two SDK timeouts and some). */
const LEASE_MS = 30_000;
/** Records one tick works through at most; the rest wait for the next tick. */
const BATCH = 20;

/**
 * Deletes a session's Stream call and channel, and keeps trying until Stream has done it. The
 * intent is written down before the first attempt, so neither a Stream outage nor a crash leaves
 * a call behind; a background retrier takes due records with a lease (several instances never
 * work on one record at once) and backs off exponentially. A 404 from Stream counts as deleted,
 * so every attempt is safe to repeat.
 */
export class StreamCleanup {
  private timer: Timer | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      models: Models;
      stream: StreamService;
      clock: Clock;
      log: Logger;
      /** The first retry's delay; each failure doubles it, up to ten minutes. */
      intervalMs: number;
    },
  ) {}

  /**
   * Deletes `parts` of `callId` now. What fails stays recorded and is retried in the background;
   * true when everything is gone already.
   */
  async remove(
    callId: string,
    parts: StreamParts = { call: true, channel: true },
  ): Promise<boolean> {
    const { StreamCleanup: records } = this.deps.models;
    // Parts already pending stay pending; a part not asked for is not added.
    const set: Partial<StreamCleanupDoc> = { nextAttemptAt: this.at(LEASE_MS) };
    const onInsert: Partial<StreamCleanupDoc> = { attempts: 0 };
    for (const part of ["call", "channel"] as const) {
      if (parts[part]) set[part] = true;
      else onInsert[part] = false;
    }
    const record = await records
      .findOneAndUpdate(
        { callId },
        { $set: set, $setOnInsert: onInsert },
        { upsert: true, returnDocument: "after" },
      )
      .lean<StreamCleanupDoc>();
    if (!record) return false;
    return this.attempt(record);
  }

  /** Tries the pending record for `callId` now, if there is one (its session is being deleted). */
  async retry(callId: string): Promise<void> {
    const record = await this.claim({ callId });
    if (record) await this.attempt(record);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.retryDue()
        .catch((error: Error) => this.deps.log.error({ err: error }, "Stream cleanup tick failed"))
        .finally(() => {
          this.running = undefined;
        });
    }, this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Works through the records that are due, oldest due first. */
  async retryDue(): Promise<void> {
    for (let i = 0; i < BATCH; i++) {
      const record = await this.claim({ nextAttemptAt: { $lte: this.deps.clock.now() } });
      if (!record) return;
      await this.attempt(record);
    }
  }

  private claim(filter: Record<string, unknown>) {
    return this.deps.models.StreamCleanup.findOneAndUpdate(
      filter,
      { $set: { nextAttemptAt: this.at(LEASE_MS) } },
      { sort: { nextAttemptAt: 1 }, returnDocument: "after" },
    ).lean<StreamCleanupDoc>();
  }

  private async attempt(record: StreamCleanupDoc): Promise<boolean> {
    const { stream, models, log } = this.deps;
    const { callId } = record;
    const failed = async (operation: Promise<void>) =>
      operation.then(
        () => false,
        () => true,
      );
    const [call, channel] = await Promise.all([
      record.call ? failed(stream.deleteCall(callId, { missingOk: true })) : false,
      record.channel ? failed(stream.deleteChannel(callId, { missingOk: true })) : false,
    ]);
    if (!call && !channel) {
      await models.StreamCleanup.deleteOne({ callId });
      return true;
    }
    const attempts = record.attempts + 1;
    const delay = Math.min(this.deps.intervalMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
    await models.StreamCleanup.updateOne(
      { callId },
      { $set: { call, channel, attempts, nextAttemptAt: this.at(delay) } },
    );
    log.warn({ callId, call, channel, attempts, retryInMs: delay }, "Stream cleanup postponed");
    return false;
  }

  private at(delayMs: number): Date {
    return new Date(this.deps.clock.now().getTime() + delayMs);
  }
}
