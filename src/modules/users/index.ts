import { Elysia } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import {
  normalizeUserBody,
  UpdateMeBody,
  UserEnvelope,
  UserIdParams,
  UserListEnvelope,
  UserListQuery,
} from "./model.ts";
import type { UsersService } from "./service.ts";

export interface UsersModuleDeps {
  auth: AuthPlugin;
  users: UsersService;
}

export function usersModule({ auth, users }: UsersModuleDeps) {
  return new Elysia({ prefix: "/api/users", detail: { tags: ["users"] } })
    .use(auth)
    .get("", async ({ user, query }) => ({ users: await users.list(user.id, query) }), {
      auth: true,
      query: UserListQuery,
      response: withErrors(UserListEnvelope, [...AUTHENTICATED, 400]),
      detail: {
        summary: "Everyone but the caller",
        description:
          "`q` narrows to a case-insensitive name or email prefix (taken literally), `role` to " +
          "interviewers or candidates. `limit` is 1–100, 50 by default; over 100 is a 400.",
      },
    })
    .patch("/me", async ({ user, body }) => ({ user: await users.updateMe(user.id, body) }), {
      auth: true,
      transform: ({ body }) => normalizeUserBody(body),
      body: UpdateMeBody,
      response: withErrors(UserEnvelope, [...AUTHENTICATED_CHANGE, ...JSON_BODY]),
      detail: {
        summary: "Change the caller's name, picture or role",
        description:
          "At least one of `name` (1–50 characters once trimmed), `avatar` (an http(s) URL, or " +
          'empty) and `role` ("interviewer" or "candidate"). For a Clerk user, Clerk\'s next ' +
          "update overwrites the name and picture; the role is kept.",
      },
    })
    .get("/:id", async ({ params }) => ({ user: await users.get(params.id) }), {
      auth: true,
      params: UserIdParams,
      response: withErrors(UserEnvelope, [...AUTHENTICATED, 400, 404]),
      detail: {
        summary: "One user",
        description: "400 for a malformed id, 404 for an unknown one.",
      },
    });
}
