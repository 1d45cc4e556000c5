import mongoose, { type InferSchemaType } from "mongoose";

/** What a user does in interviews (the Talent Quotient design); everyone starts as a candidate. */
export const USER_ROLES = ["interviewer", "candidate"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/**
 * An account: built-in (email + password) or provisioned from Clerk (`clerkId`, no password).
 * A Clerk user whose email is not known yet (claims-only provisioning) has no `email` until the
 * webhook or `/api/auth/callback` fills it in, hence the partial unique index.
 */
export const userSchema = new mongoose.Schema(
  {
    name: { type: String, required: true, trim: true, maxlength: 50 },
    email: { type: String, lowercase: true, trim: true },
    passwordHash: { type: String, select: false },
    avatar: { type: String, default: "" },
    clerkId: { type: String },
    role: { type: String, enum: USER_ROLES, default: "candidate" },
  },
  { timestamps: true },
);

userSchema.index(
  { email: 1 },
  { unique: true, partialFilterExpression: { email: { $type: "string" } } },
);
userSchema.index({ clerkId: 1 }, { unique: true, sparse: true });
// Prefix search on name is case-insensitive; this keeps the default listing order cheap.
userSchema.index({ name: 1 });
// `GET /api/users?role=`: the same listing order within a role.
userSchema.index({ role: 1, name: 1 });

export type UserFields = InferSchemaType<typeof userSchema>;
export type UserDoc = mongoose.HydratedDocument<UserFields>;

export function userModel(connection: mongoose.Connection) {
  return connection.model("User", userSchema);
}

export type UserModel = ReturnType<typeof userModel>;
