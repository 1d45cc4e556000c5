import { type Static, t } from "elysia";
import { ObjectIdString } from "../common/model.ts";

/** The contract's User, as every module sends it. Never carries a password hash. */
export const PublicUser = t.Object(
  {
    _id: t.String(),
    name: t.String(),
    email: t.String({ description: "Empty for a Clerk user whose email is not known yet" }),
    avatar: t.String(),
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
});

export const UserEnvelope = t.Object({ user: PublicUser });
export const UserListEnvelope = t.Object({ users: t.Array(PublicUser) });
