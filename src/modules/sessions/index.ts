import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import {
  CreateSessionBody,
  EndedSessionEnvelope,
  normalizeSessionBody,
  SessionEnvelope,
  SessionIdParams,
  SessionListEnvelope,
  SessionListQuery,
  SessionPageEnvelope,
  UpdateSessionBody,
} from "./model.ts";
import type { SessionService } from "./service.ts";

export interface SessionsModuleDeps {
  auth: AuthPlugin;
  sessions: SessionService;
}

/**
 * Interview sessions. `/active` and `/my-recent` are declared before `/:id` (which only takes an
 * ObjectId anyway), so they are never read as an id.
 */
export function sessionsModule({ auth, sessions }: SessionsModuleDeps) {
  return new Elysia({ name: "sessions", prefix: "/api/sessions", detail: { tags: ["sessions"] } })
    .use(auth)
    .post(
      "",
      async ({ user, body, status }) => status(201, { session: await sessions.create(user, body) }),
      {
        auth: true,
        transform: ({ body }) => normalizeSessionBody(body),
        body: CreateSessionBody,
        response: withErrors({ 201: SessionEnvelope }, [
          ...AUTHENTICATED_CHANGE,
          ...JSON_BODY,
          502,
        ]),
        detail: {
          summary: "Start a session as its host",
          description:
            "With Stream configured, also creates the video call default:<callId> and the chat " +
            "channel messaging:<callId> with the host as member; if Stream fails, nothing is " +
            "kept and the answer is 502 UPSTREAM.",
        },
      },
    )
    .get("/active", async () => ({ sessions: await sessions.active() }), {
      auth: true,
      response: withErrors(SessionListEnvelope, AUTHENTICATED),
      detail: { summary: "The latest 20 active sessions" },
    })
    .get("/my-recent", async ({ user }) => ({ sessions: await sessions.recentFor(user.id) }), {
      auth: true,
      response: withErrors(SessionListEnvelope, AUTHENTICATED),
      detail: {
        summary: "The latest 20 completed sessions the caller hosted or joined, last ended first",
      },
    })
    .get("", ({ query }) => sessions.list(query), {
      auth: true,
      query: SessionListQuery,
      response: withErrors(SessionPageEnvelope, [...AUTHENTICATED, 400]),
      detail: {
        summary: "Sessions, newest first, filtered by status and difficulty",
        description: "`before` is the `_id` of the last session seen; limit 20 by default, ≤ 100.",
      },
    })
    .get("/:id", async ({ params }) => ({ session: await sessions.get(params.id) }), {
      auth: true,
      params: SessionIdParams,
      response: withErrors(SessionEnvelope, [...AUTHENTICATED, 400, 404]),
      detail: { summary: "One session; 404 when there is none" },
    })
    .patch(
      "/:id",
      async ({ user, params, body }) => ({
        session: await sessions.update(user.id, params.id, body),
      }),
      {
        auth: true,
        params: SessionIdParams,
        transform: ({ body }) => normalizeSessionBody(body),
        body: UpdateSessionBody,
        response: withErrors(SessionEnvelope, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404]),
        detail: {
          summary: "Change the problem or difficulty",
          description: "Host only (403), while active (400 SESSION_COMPLETED).",
        },
      },
    )
    .delete(
      "/:id",
      async ({ user, params, set }) => {
        await sessions.remove(user.id, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors({ 204: t.Void() }, [...AUTHENTICATED_CHANGE, 400, 404, 409]),
        detail: {
          summary: "Delete a session and whatever Stream resources it left",
          description:
            "Host only (403); while nobody holds the seat or once completed, else 409 " +
            "SESSION_IN_PROGRESS. 204.",
        },
      },
    )
    .post(
      "/:id/join",
      async ({ user, params }) => ({ session: await sessions.join(user, params.id) }),
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors(SessionEnvelope, [...AUTHENTICATED_CHANGE, 400, 404, 409, 502]),
        detail: {
          summary: "Take the participant's seat (and join the Stream channel)",
          description:
            "404 unknown; 400 SESSION_COMPLETED; 400 HOST_CANNOT_JOIN; 409 SESSION_FULL. Of two " +
            "joins at once exactly one wins; joining again as the participant is a 200.",
        },
      },
    )
    .post(
      "/:id/leave",
      async ({ user, params }) => ({ session: await sessions.leave(user, params.id) }),
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors(SessionEnvelope, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "The participant leaves; the seat is free again",
          description:
            "400 SESSION_COMPLETED; 400 HOST_CANNOT_LEAVE; 403 when the caller is not the " +
            "participant.",
        },
      },
    )
    .post(
      "/:id/end",
      async ({ user, params }) => ({
        session: await sessions.end(user.id, params.id),
        message: "Session ended successfully",
      }),
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors(EndedSessionEnvelope, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "End the session (host only)",
          description:
            "Completes the session and deletes its Stream call and channel (retried in the " +
            "background if Stream fails). 403 for anyone but the host; 400 SESSION_COMPLETED.",
        },
      },
    );
}
