import type mongoose from "mongoose";
import { Schema, type Types } from "mongoose";
import type { CodeChange } from "./session.ts";

/**
 * One accepted `code-update` of a session, kept so the interview can be replayed: a snapshot (the
 * whole text) now and then, and in between a diff against the version before, so what is stored
 * grows with the change rather than with the text. No timestamps and no `__v`: every byte here is
 * paid once per version.
 */
export interface CodeVersionDoc extends CodeChange {
  _id: Types.ObjectId;
  session: Types.ObjectId;
}

const codeVersionSchema = new Schema<CodeVersionDoc>(
  {
    session: { type: Schema.Types.ObjectId, ref: "Session", required: true },
    version: { type: Number, required: true },
    user: { type: Schema.Types.ObjectId, ref: "User", required: true },
    at: { type: Date, required: true },
    language: { type: String },
    text: { type: String },
    diff: { type: String },
  },
  { versionKey: false },
);

// One change per version; a replay reads a range of them in order.
codeVersionSchema.index({ session: 1, version: 1 }, { unique: true });

export function codeVersionModel(connection: mongoose.Connection) {
  return connection.model<CodeVersionDoc>("CodeVersion", codeVersionSchema);
}
