import type mongoose from "mongoose";
import { Schema, type Types } from "mongoose";

/**
 * A sign-in session: one register or login of a built-in account, named by the `sid` claim of the
 * token it issued (not to be confused with an interview session). The token is good only while
 * its sign-in exists: logout deletes one, logout-all every one of the user, and the TTL index
 * removes it once its token has expired anyway.
 */
export interface SignInDoc {
  _id: Types.ObjectId;
  user: Types.ObjectId;
  /** When the token expires; the document goes with it. */
  expiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

const signInSchema = new Schema<SignInDoc>(
  {
    user: { type: Schema.Types.ObjectId, ref: "User", required: true },
    expiresAt: { type: Date, required: true },
  },
  { timestamps: true },
);

// Logout-all finds a user's sign-ins.
signInSchema.index({ user: 1 });
// Expired sign-ins are deleted by the database (MongoDB's TTL monitor; the embedded store's sweep).
signInSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export function signInModel(connection: mongoose.Connection) {
  return connection.model<SignInDoc>("SignIn", signInSchema);
}
