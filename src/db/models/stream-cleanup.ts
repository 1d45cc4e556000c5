import type mongoose from "mongoose";
import { Schema } from "mongoose";

/**
 * Stream resources of a session that still have to be deleted. A record outlives its session
 * (DELETE removes the session at once), so the background retrier can finish the job whenever
 * Stream answers again.
 */
export interface StreamCleanupDoc {
  callId: string;
  /** The video call `default:<callId>` is still to be deleted. */
  call: boolean;
  /** The chat channel `messaging:<callId>` is still to be deleted. */
  channel: boolean;
  /** Failed attempts so far; drives the backoff. */
  attempts: number;
  /** When the retrier may take this record next; also a lease while an attempt runs. */
  nextAttemptAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

const streamCleanupSchema = new Schema<StreamCleanupDoc>(
  {
    callId: { type: String, required: true },
    call: { type: Boolean, default: true },
    channel: { type: Boolean, default: true },
    attempts: { type: Number, default: 0 },
    nextAttemptAt: { type: Date, required: true },
  },
  { timestamps: true },
);

streamCleanupSchema.index({ callId: 1 }, { unique: true });
streamCleanupSchema.index({ nextAttemptAt: 1 });

export function streamCleanupModel(connection: mongoose.Connection) {
  return connection.model<StreamCleanupDoc>("StreamCleanup", streamCleanupSchema);
}
