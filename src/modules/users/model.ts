import { type Static, t } from "elysia";
import { ObjectIdString } from "../common/model.ts";

/** The contract's User, as every module sends it. Never carries a password hash. */
export const UserRole = t.Union([t.Literal("interviewer"), t.Literal("candidate")], {
  error: 'must be "interviewer" or "candidate"',
});

export const PublicUser = t.Object(
  {
    _id: t.String(),
    name: t.String(),
    email: t.String({ description: "Empty for a Clerk user whose email is not known yet" }),
    avatar: t.String(),
    role: UserRole,
    clerkId: t.Optional(t.String()),
    createdAt: t.String({ format: "date-time" }),
    updatedAt: t.String({ format: "date-time" }),
  },
  { title: "User" },
);
export type PublicUser = Static<typeof PublicUser>;

export const UserIdParams = t.Object({ id: ObjectIdString });

export const USERS_DEFAULT_LIMIT = 50;
export const USERS_MAX_LIMIT = 100;

export const UserListQuery = t.Object({
  q: t.Optional(
    t.String({ maxLength: 100, description: "Case-insensitive prefix of a name or an email" }),
  ),
  limit: t.Optional(
    t.Integer({ minimum: 1, maximum: USERS_MAX_LIMIT, default: USERS_DEFAULT_LIMIT }),
  ),
  role: t.Optional(UserRole),
});
export type UserListQuery = Static<typeof UserListQuery>;

export const NAME_MAX = 50;
export const AVATAR_MAX = 2048;

/** `PATCH /api/users/me`: any of the three, at least one. */
export const UpdateMeBody = t.Object(
  {
    name: t.Optional(
      t.String({
        minLength: 1,
        maxLength: NAME_MAX,
        description: `Trimmed; 1–${NAME_MAX} characters`,
        error: `must be 1 to ${NAME_MAX} characters once trimmed`,
      }),
    ),
    avatar: t.Optional(
      t.String({
        maxLength: AVATAR_MAX,
        pattern: "^(https?://\\S+)?$",
        description: "An http(s) URL of a picture, or empty to remove it",
        error: "must be an http(s) URL, or empty",
      }),
    ),
    role: t.Optional(UserRole),
  },
  { minProperties: 1, error: "give name, avatar, role or several" },
);
export type UpdateMeBody = Static<typeof UpdateMeBody>;

/** Trims the name before the schema sees it, so " Ann " is valid and "   " is not. */
export function normalizeUserBody(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if (typeof fields.name === "string") fields.name = fields.name.trim();
  if (typeof fields.avatar === "string") fields.avatar = fields.avatar.trim();
}

export const UserEnvelope = t.Object({ user: PublicUser });
export const UserListEnvelope = t.Object({ users: t.Array(PublicUser) });
