import type mongoose from "mongoose";
import { Schema, type Types } from "mongoose";

/**
 * The host's private notes on a session, and their rating of it. A collection of their own, never
 * a field of the session: sessions are read by anyone signed in, and populated into lists, so
 * nothing kept on them could stay private by accident.
 */
export interface SessionNoteDoc {
  _id: Types.ObjectId;
  session: Types.ObjectId;
  /** The session's host, the only one who reads or writes these. */
  host: Types.ObjectId;
  text: string;
  /** 1–5, or null when not rated. */
  rating: number | null;
  createdAt: Date;
  updatedAt: Date;
}

const sessionNoteSchema = new Schema<SessionNoteDoc>(
  {
    session: { type: Schema.Types.ObjectId, ref: "Session", required: true },
    host: { type: Schema.Types.ObjectId, ref: "User", required: true },
    text: { type: String, default: "" },
    rating: { type: Number, min: 1, max: 5, default: null },
  },
  { timestamps: true },
);

sessionNoteSchema.index({ session: 1 }, { unique: true });

export function sessionNoteModel(connection: mongoose.Connection) {
  return connection.model<SessionNoteDoc>("SessionNote", sessionNoteSchema);
}
