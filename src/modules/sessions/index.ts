import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import type { SessionEditor } from "./editor.ts";
import {
  CodeHistoryEnvelope,
  CodeHistoryQuery,
  CreateSessionBody,
  EndedSessionEnvelope,
  NotesBody,
  NotesEnvelope,
  normalizeSessionBody,
  SessionEnvelope,
  SessionIdParams,
  SessionListEnvelope,
  SessionListQuery,
  SessionPageEnvelope,
  SessionUserParams,
  UpdateSessionBody,
} from "./model.ts";
import type { SessionNotes } from "./notes.ts";
import type { SessionService } from "./service.ts";

export interface SessionsModuleDeps {
  auth: AuthPlugin;
  sessions: SessionService;
  editor: SessionEditor;
  notes: SessionNotes;
}

const TAGS = { tags: ["sessions"] };
const PREFIX = "/api/sessions";

/**
 * Interview sessions. `/active`, `/my-recent` and `/user/:userId` are declared before `/:id`
 * (which only takes an ObjectId anyway), so they are never read as an id.
 *
 * The Talent Quotient design's names, `POST /create` and `PUT /:id`, are the same routes as
 * `POST /` and `PATCH /:id`: each is declared once (`create` and `update` below) and mounted at
 * both addresses, so the two can never drift apart.
 */
export function sessionsModule({ auth, sessions, editor, notes }: SessionsModuleDeps) {
  // Each carries the module's prefix itself: Eden only types a used instance's routes by their own.
  const create = <const Path extends "" | "/create">(path: Path, summary: string) =>
    new Elysia({ prefix: PREFIX, detail: TAGS })
      .use(auth)
      .post(
        path,
        async ({ user, body, status }) =>
          status(201, { session: await sessions.create(user, body) }),
        {
          auth: true,
          transform: ({ body }) => normalizeSessionBody(body),
          body: CreateSessionBody,
          response: withErrors({ 201: SessionEnvelope }, [
            ...AUTHENTICATED_CHANGE,
            ...JSON_BODY,
            404,
            502,
          ]),
          detail: {
            summary,
            description:
              "`scheduled` when `scheduledFor` is given (it must be in the future), else `active`. " +
              "`inviteeId` reserves the seat for that user (404 for an unknown one). Also makes the " +
              "session's chat (`chatId`), and with Stream configured the video call " +
              "default:<callId> and the chat channel messaging:<callId> with the host as member; if " +
              "Stream fails, nothing is kept and the answer is 502 UPSTREAM.",
          },
        },
      );

  const update = <const Method extends "patch" | "put">(method: Method, summary: string) =>
    new Elysia({ prefix: PREFIX, detail: TAGS }).use(auth).route(
      method,
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
          summary,
          description:
            "Host only (403), while scheduled or active (else 400 SESSION_COMPLETED or " +
            "SESSION_CANCELLED); `scheduledFor` only while scheduled (400 " +
            "SESSION_ALREADY_STARTED) and in the future.",
        },
      },
    );

  const routes = new Elysia({ prefix: PREFIX, detail: TAGS })
    .use(auth)
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
    .get("/user/:userId", ({ params, query }) => sessions.listFor(params.userId, query), {
      auth: true,
      params: SessionUserParams,
      query: SessionListQuery,
      response: withErrors(SessionPageEnvelope, [...AUTHENTICATED, 400, 404]),
      detail: {
        summary: "A user's sessions (as host, participant or invitee), newest first",
        description: "The same filters and cursor as GET /api/sessions. 404 for an unknown user.",
      },
    })
    .get("/:id", async ({ params }) => ({ session: await sessions.get(params.id) }), {
      auth: true,
      params: SessionIdParams,
      response: withErrors(SessionEnvelope, [...AUTHENTICATED, 400, 404]),
      detail: { summary: "One session; 404 when there is none" },
    })

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
          summary: "Delete a session, its chat, code history and notes, and its Stream resources",
          description:
            "Host only (403); while nobody holds the seat or once completed or cancelled, else " +
            "409 SESSION_IN_PROGRESS. 204.",
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
          summary: "Take the participant's seat (and join the session's chat and Stream channel)",
          description:
            "A scheduled session's seat is reserved by joining. 404 unknown; 400 " +
            "SESSION_COMPLETED or SESSION_CANCELLED; 400 HOST_CANNOT_JOIN; 403 when the seat is " +
            "reserved for an invitee; 409 SESSION_FULL. Of two joins at once exactly one wins; " +
            "joining again as the participant is a 200.",
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
            "They are out of the session's chat at once. 400 SESSION_COMPLETED or " +
            "SESSION_CANCELLED; 400 HOST_CANNOT_LEAVE; 403 when the caller is not the participant.",
        },
      },
    )
    .post(
      "/:id/start",
      async ({ user, params }) => ({ session: await sessions.start(user.id, params.id) }),
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors(SessionEnvelope, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "Start a scheduled session (host only)",
          description:
            "scheduled → active, `startedAt` now. 403 for anyone but the host; 400 " +
            "SESSION_ALREADY_STARTED, SESSION_COMPLETED or SESSION_CANCELLED. Of two starts at " +
            "once exactly one wins.",
        },
      },
    )
    .post(
      "/:id/cancel",
      async ({ user, params }) => ({ session: await sessions.cancel(user.id, params.id) }),
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors(SessionEnvelope, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "Cancel a scheduled or active session (host only)",
          description:
            "→ cancelled, `endedAt` now; its chat freezes and its Stream call and channel are " +
            "deleted (retried in the background if Stream fails). 403 for anyone but the host; " +
            "400 SESSION_COMPLETED or SESSION_CANCELLED.",
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
            "Completes the session, freezes its chat and deletes its Stream call and channel " +
            "(retried in the background if Stream fails). 403 for anyone but the host; 400 " +
            "SESSION_COMPLETED, SESSION_CANCELLED, or SESSION_NOT_STARTED for a scheduled one.",
        },
      },
    )
    .get(
      "/:id/code/history",
      ({ user, params, query }) => editor.versions(user.id, params.id, query),
      {
        auth: true,
        params: SessionIdParams,
        query: CodeHistoryQuery,
        response: withErrors(CodeHistoryEnvelope, [...AUTHENTICATED, 400, 404]),
        detail: {
          summary: "The shared editor's versions after `after`, each with its whole text",
          description:
            "Host and participant only (404 for anyone else). Versions `after + 1` … " +
            "`after + limit` (limit 50 by default, ≤ 100), rebuilt from compact stored changes.",
        },
      },
    )
    .get(
      "/:id/notes",
      async ({ user, params }) => ({ notes: await notes.get(user.id, params.id) }),
      {
        auth: true,
        params: SessionIdParams,
        response: withErrors(NotesEnvelope, [...AUTHENTICATED, 400, 404]),
        detail: {
          summary: "The host's private notes and rating",
          description: "Host only: anyone else gets 404. Empty (`updatedAt: null`) until saved.",
        },
      },
    )
    .put(
      "/:id/notes",
      async ({ user, params, body }) => ({ notes: await notes.put(user.id, params.id, body) }),
      {
        auth: true,
        params: SessionIdParams,
        body: NotesBody,
        response: withErrors(NotesEnvelope, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404]),
        detail: {
          summary: "Replace the host's private notes and rating",
          description:
            "Host only: anyone else gets 404. `rating` 1–5; absent or null clears it. In any " +
            "status, before, during or after the interview.",
        },
      },
    );

  return new Elysia({ name: "sessions" })
    .use(create("", "Make a session as its host"))
    .use(create("/create", "Same as POST /api/sessions (the Talent Quotient name)"))
    .use(update("patch", "Change the problem, difficulty, description, schedule or duration"))
    .use(update("put", "Same as PATCH /api/sessions/:id (the Talent Quotient name)"))
    .use(routes);
}
