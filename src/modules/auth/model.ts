import { type Static, t } from "elysia";
import { PublicUser, UserRole } from "../users/model.ts";

export const PASSWORD_MIN = 8;
/** Long enough for any passphrase; short enough that hashing stays cheap for an attacker's input. */
export const PASSWORD_MAX = 128;

export const RegisterBody = t.Object({
  name: t.String({ minLength: 1, maxLength: 50, description: "Trimmed; 1–50 characters" }),
  email: t.String({ format: "email", maxLength: 254, description: "Trimmed and lowercased" }),
  password: t.String({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX }),
  /** "candidate" when absent; `PATCH /api/users/me` changes it later. */
  role: t.Optional(UserRole),
});
export type RegisterBody = Static<typeof RegisterBody>;

export const LoginBody = t.Object({
  email: t.String({ minLength: 1, maxLength: 254 }),
  password: t.String({ minLength: 1, maxLength: PASSWORD_MAX }),
});
export type LoginBody = Static<typeof LoginBody>;

export const Session = t.Object({
  user: PublicUser,
  token: t.String({ description: "A built-in HS256 JWT, valid for 7 days" }),
});
export type Session = Static<typeof Session>;

/**
 * Trims names and emails and lowercases emails before the schema sees them, so " Ann " is a
 * valid name and " ANN@x.io " a valid email. Anything that is not a string is left for the
 * schema to refuse (`{"email": {"$gt": ""}}` never reaches the database).
 */
export function normalizeCredentials(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if (typeof fields.name === "string") fields.name = fields.name.trim();
  if (typeof fields.email === "string") fields.email = fields.email.trim().toLowerCase();
}
