import mongoose, { Schema, type Types } from "mongoose";

export const DIFFICULTIES = ["easy", "medium", "hard"] as const;
export type Difficulty = (typeof DIFFICULTIES)[number];

export const SESSION_STATUSES = ["active", "completed"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** The shared editor's state; `version` counts accepted `code-update`s, from 0. */
export interface SessionCode {
  language: string;
  text: string;
  version: number;
}

export interface SessionDoc {
  _id: Types.ObjectId;
  problem: string;
  difficulty: Difficulty;
  host: Types.ObjectId;
  /** The one seat besides the host; null while it is free. */
  participant: Types.ObjectId | null;
  status: SessionStatus;
  /** Names the Stream video call `default:<callId>` and chat channel `messaging:<callId>`. */
  callId: string;
  code: SessionCode;
  startedAt: Date;
  endedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const sessionSchema = new Schema<SessionDoc>(
  {
    problem: { type: String, required: true, trim: true, maxlength: 200 },
    difficulty: { type: String, enum: DIFFICULTIES, required: true },
    host: { type: Schema.Types.ObjectId, ref: "User", required: true },
    participant: { type: Schema.Types.ObjectId, ref: "User", default: null },
    status: { type: String, enum: SESSION_STATUSES, default: "active" },
    callId: { type: String, required: true },
    code: {
      language: { type: String, default: "javascript" },
      text: { type: String, default: "" },
      version: { type: Number, default: 0 },
    },
    startedAt: { type: Date, required: true },
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

export function sessionModel(connection: mongoose.Connection) {
  return connection.model<SessionDoc>("Session", sessionSchema);
}
