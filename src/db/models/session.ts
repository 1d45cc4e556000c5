import mongoose, { Schema, type Types } from "mongoose";

export const DIFFICULTIES = ["easy", "medium", "hard"] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

/**
 * `scheduled` → `active` (start) → `completed` (end); `scheduled` or `active` → `cancelled`.
 * A session made without `scheduledFor` starts `active`.
 */
export const SESSION_STATUSES = ["scheduled", "active", "completed", "cancelled"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Statuses a session is still open in: the seat can change hands and the chat is open. */
export const OPEN_STATUSES = ["scheduled", "active"] as const satisfies SessionStatus[];
/** Statuses a session has stopped in, for good. */
export const OVER_STATUSES = ["completed", "cancelled"] as const satisfies SessionStatus[];

/**
 * One accepted `code-update`, as the code history keeps it (code-versions.ts): either the whole
 * text (a snapshot) or a diff against the version before.
 */
export interface CodeChange {
  version: number;
  /** Who sent it. */
  user: Types.ObjectId;
  at: Date;
  /** On a snapshot, and on a diff whose language differs from the version before. */
  language?: string;
  /** A snapshot: the whole text. */
  text?: string;
  /** A diff against the version before (modules/sessions/code-diff.ts). */
  diff?: string;
}

/** The shared editor's state; `version` counts accepted `code-update`s, from 0. */
export interface SessionCode {
  language: string;
  text: string;
  version: number;
  /**
   * The change that made this version, kept here by the same conditional update that accepted it:
   * if writing it to the history fails, the next update (or a history read) still has it.
   */
  change?: CodeChange;
  /** The version of the last snapshot in the history; absent for code edited before history. */
  snapshotVersion?: number;
  /** Characters of diff stored since that snapshot: past the text's length, snapshot again. */
  diffSinceSnapshot?: number;
}

export interface SessionDoc {
  _id: Types.ObjectId;
  problem: string;
  difficulty: Difficulty;
  description: string;
  host: Types.ObjectId;
  /** The one seat besides the host; null while it is free. */
  participant: Types.ObjectId | null;
  /** When set, only this user may take the seat. */
  invitee: Types.ObjectId | null;
  status: SessionStatus;
  /** Names the Stream video call `default:<callId>` and chat channel `messaging:<callId>`. */
  callId: string;
  /** The session's own chat (kind "session"); absent only on sessions stored before it existed. */
  chatId: Types.ObjectId | null;
  /**
   * Counts the changes to who is in the session's chat and whether it is open (join, leave, end,
   * cancel). The chat takes a change only over an older one, so two that land out of order
   * cannot leave it with an earlier seat.
   */
  chatVersion: number;
  code: SessionCode;
  scheduledFor: Date | null;
  durationMinutes: number;
  /** When it became active; null while scheduled (and for one cancelled before it started). */
  startedAt: Date | null;
  /** When it was completed or cancelled. */
  endedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const codeChangeSchema = new Schema<CodeChange>(
  {
    version: { type: Number, required: true },
    user: { type: Schema.Types.ObjectId, required: true },
    at: { type: Date, required: true },
    language: { type: String },
    text: { type: String },
    diff: { type: String },
  },
  { _id: false },
);

const sessionSchema = new Schema<SessionDoc>(
  {
    problem: { type: String, required: true, trim: true, maxlength: 200 },
    difficulty: { type: String, enum: DIFFICULTIES, required: true },
    description: { type: String, default: "" },
    host: { type: Schema.Types.ObjectId, ref: "User", required: true },
    participant: { type: Schema.Types.ObjectId, ref: "User", default: null },
    invitee: { type: Schema.Types.ObjectId, ref: "User", default: null },
    status: { type: String, enum: SESSION_STATUSES, default: "active" },
    callId: { type: String, required: true },
    chatId: { type: Schema.Types.ObjectId, ref: "Chat", default: null },
    chatVersion: { type: Number, default: 0 },
    code: {
      language: { type: String, default: "javascript" },
      text: { type: String, default: "" },
      version: { type: Number, default: 0 },
      change: { type: codeChangeSchema, default: undefined },
      snapshotVersion: { type: Number },
      diffSinceSnapshot: { type: Number },
    },
    scheduledFor: { type: Date, default: null },
    durationMinutes: { type: Number, default: 60 },
    startedAt: { type: Date, default: null },
    endedAt: { type: Date, default: null },
  },
  { timestamps: true },
);

sessionSchema.index({ callId: 1 }, { unique: true });
// The active list and the filtered, cursor-paged list: newest first by _id.
sessionSchema.index({ status: 1, _id: -1 });
sessionSchema.index({ status: 1, difficulty: 1, _id: -1 });
// "My recent sessions": completed ones where the caller was host or participant, latest first.
sessionSchema.index({ host: 1, status: 1, endedAt: -1 });
sessionSchema.index({ participant: 1, status: 1, endedAt: -1 });
// A user's sessions (`/user/:userId`), newest first: one index per place they can hold.
sessionSchema.index({ host: 1, _id: -1 });
sessionSchema.index({ participant: 1, _id: -1 });
sessionSchema.index({ invitee: 1, _id: -1 });

export function sessionModel(connection: mongoose.Connection) {
  return connection.model<SessionDoc>("Session", sessionSchema);
}
