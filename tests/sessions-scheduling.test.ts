import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { type FakeStream, fakeStream } from "./support/fake-stream.ts";
import {
  CALL,
  CHANNEL,
  createSession,
  eventually,
  fromNow,
  ISO,
  sessionAction,
  uniqueProblem,
  users,
} from "./support/sessions.ts";
import type { TestUser } from "./support/users.ts";

/**
 * The Talent Quotient design's sessions: scheduled ones with a description and a duration, an
 * invitee who alone may take the seat, start and cancel (each one conditional update, raced here),
 * a user's sessions, and the route names it uses (`POST /create`, `PUT /:id`).
 */

let stream: FakeStream;
/** With the fake Stream. */
let server: TestApp;
/** With Stream off. */
let plain: TestApp;

beforeAll(async () => {
  stream = fakeStream();
  [server, plain] = await Promise.all([
    startTestApp({ ...stream.env, STREAM_CLEANUP_INTERVAL_MS: "20" }),
    startTestApp(),
  ]);
});
afterAll(async () => {
  await Promise.all([server.stop(), plain.stop()]);
  await stream.stop();
});

const read = (app: TestApp, user: TestUser, id: string) =>
  app.api(`/api/sessions/${id}`, { token: user.token });

describe("scheduling", () => {
  test("scheduledFor ahead → scheduled, not started; the host starts it → active from now", async () => {
    const [host] = await users(plain, 1);
    const scheduledFor = fromNow(60);
    const created = await plain.api("/api/sessions", {
      token: host!.token,
      body: {
        problem: uniqueProblem("Graphs"),
        difficulty: "hard",
        description: "  Bring a laptop  ",
        scheduledFor,
        durationMinutes: 45,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.session).toMatchObject({
      status: "scheduled",
      description: "Bring a laptop",
      scheduledFor,
      durationMinutes: 45,
      startedAt: null,
      participant: null,
      invitee: null,
    });
    expect(created.body.session.endedAt).toBeUndefined();

    const id = created.body.session._id;
    const started = await sessionAction(plain.api, host!, id, "start");
    expect(started.status).toBe(200);
    expect(started.body.session).toMatchObject({ status: "active", startedAt: ISO, scheduledFor });
    expect((await read(plain, host!, id)).body.session.status).toBe("active");
  });

  test("a date not ahead, a bad date or duration → 400 naming the field", async () => {
    const [host] = await users(plain, 1);
    for (const [extra, path] of [
      [{ scheduledFor: new Date(Date.now() - 60_000).toISOString() }, "scheduledFor"],
      [{ scheduledFor: "tomorrow" }, "scheduledFor"],
      [{ durationMinutes: 4 }, "durationMinutes"],
      [{ durationMinutes: 481 }, "durationMinutes"],
      [{ durationMinutes: 30.5 }, "durationMinutes"],
      [{ description: "x".repeat(2001) }, "description"],
      [{ inviteeId: "nope" }, "inviteeId"],
    ] as const) {
      const res = await plain.api("/api/sessions", {
        token: host!.token,
        body: { problem: "Two Sum", difficulty: "easy", ...extra },
      });
      expect({ extra, status: res.status }).toEqual({ extra, status: 400 });
      expect(res.body.code).toBe("VALIDATION");
      expect(res.body.errors.map((e: any) => e.path)).toContain(path);
    }
  });

  test("start: host only (403); 400 when active, completed or cancelled; 404 unknown", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
    const byGuest = await sessionAction(plain.api, guest!, session._id, "start");
    expect(byGuest.status).toBe(403);
    expect(byGuest.body.code).toBe("FORBIDDEN");
    expect((await sessionAction(plain.api, host!, session._id, "start")).status).toBe(200);
    const again = await sessionAction(plain.api, host!, session._id, "start");
    expect(again.status).toBe(400);
    expect(again.body.code).toBe("SESSION_ALREADY_STARTED");
    await sessionAction(plain.api, host!, session._id, "end");
    const ended = await sessionAction(plain.api, host!, session._id, "start");
    expect(ended.body.code).toBe("SESSION_COMPLETED");

    const active = await createSession(plain.api, host!);
    const startActive = await sessionAction(plain.api, host!, active._id, "start");
    expect(startActive.status).toBe(400);
    expect(startActive.body.code).toBe("SESSION_ALREADY_STARTED");

    const unknown = await sessionAction(plain.api, host!, "0123456789abcdef01234567", "start");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: "Session not found", code: "NOT_FOUND" });
  });

  test("a scheduled session: joining reserves the seat; end is refused until it starts", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
    const joined = await sessionAction(plain.api, guest!, session._id, "join");
    expect(joined.status).toBe(200);
    expect(joined.body.session).toMatchObject({
      status: "scheduled",
      participant: { _id: guest!.id },
    });
    const end = await sessionAction(plain.api, host!, session._id, "end");
    expect(end.status).toBe(400);
    expect(end.body.code).toBe("SESSION_NOT_STARTED");
    // The reservation can be given back, and taken again.
    expect((await sessionAction(plain.api, guest!, session._id, "leave")).status).toBe(200);
    expect((await sessionAction(plain.api, guest!, session._id, "join")).status).toBe(200);
  });

  test("on /ws a scheduled session can be joined, but signal and code-update wait for the start", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
    await sessionAction(plain.api, guest!, session._id, "join");
    const h = await plain.socket(host!.token);
    const g = await plain.socket(guest!.token);
    h.send("join-session", session._id, "h");
    expect((await h.next("session-joined")).ref).toBe("h");
    g.send("join-session", session._id, "g");
    await g.next("session-joined");
    expect((await h.next("peer-joined")).data).toEqual({
      sessionId: session._id,
      userId: guest!.id,
    });

    g.send(
      "signal",
      { sessionId: session._id, to: host!.id, type: "offer", payload: { sdp: "x" } },
      "s1",
    );
    expect((await g.next("socket-error")).data).toMatchObject({
      code: "SESSION_NOT_STARTED",
      ref: "s1",
    });
    g.send(
      "code-update",
      { sessionId: session._id, language: "python", text: "x = 1", version: 1 },
      "c1",
    );
    expect((await g.next("socket-error", (d) => d.ref === "c1")).data.code).toBe(
      "SESSION_NOT_STARTED",
    );

    await sessionAction(plain.api, host!, session._id, "start");
    g.send(
      "code-update",
      { sessionId: session._id, language: "python", text: "x = 1", version: 1 },
      "c2",
    );
    expect((await g.next("code-accepted")).data).toEqual({ sessionId: session._id, version: 1 });
    expect((await h.next("code-update")).data.text).toBe("x = 1");
    await Promise.all([h.close(), g.close()]);
  });

  test("PATCH and PUT: description and duration while open; scheduledFor only while scheduled", async () => {
    const [host] = await users(plain, 1);
    const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
    const later = fromNow(90);
    const moved = await plain.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: { scheduledFor: later, durationMinutes: 90, description: " Trees " },
    });
    expect(moved.status).toBe(200);
    expect(moved.body.session).toMatchObject({
      scheduledFor: later,
      durationMinutes: 90,
      description: "Trees",
    });
    const past = await plain.api(`/api/sessions/${session._id}`, {
      method: "PUT",
      token: host!.token,
      body: { scheduledFor: new Date(Date.now() - 1000).toISOString() },
    });
    expect(past.status).toBe(400);
    expect(past.body.errors.map((e: any) => e.path)).toEqual(["scheduledFor"]);

    await sessionAction(plain.api, host!, session._id, "start");
    const tooLate = await plain.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: { scheduledFor: fromNow(120) },
    });
    expect(tooLate.status).toBe(400);
    expect(tooLate.body.code).toBe("SESSION_ALREADY_STARTED");
    const described = await plain.api(`/api/sessions/${session._id}`, {
      method: "PUT",
      token: host!.token,
      body: { description: "Now live" },
    });
    expect(described.status).toBe(200);
    expect(described.body.session.description).toBe("Now live");
  });
});

describe("invitations", () => {
  test("only the invitee may take the seat (others 403), and hears of the invitation at once", async () => {
    const [host, invitee, other] = await users(plain, 3);
    const inviteeSocket = await plain.socket(invitee!.token);
    const session = await createSession(plain.api, host!, {
      scheduledFor: fromNow(30),
      inviteeId: invitee!.id,
    });
    expect(session.invitee).toMatchObject({ _id: invitee!.id, name: invitee!.name });
    const heard = await inviteeSocket.next("session-updated");
    expect(heard.data.session).toMatchObject({ _id: session._id, status: "scheduled" });

    const byOther = await sessionAction(plain.api, other!, session._id, "join");
    expect(byOther.status).toBe(403);
    expect(byOther.body.code).toBe("FORBIDDEN");
    const byInvitee = await sessionAction(plain.api, invitee!, session._id, "join");
    expect(byInvitee.status).toBe(200);
    expect(byInvitee.body.session.participant._id).toBe(invitee!.id);
    // Still theirs alone once they have left it.
    await sessionAction(plain.api, invitee!, session._id, "leave");
    expect((await sessionAction(plain.api, other!, session._id, "join")).status).toBe(403);
    await inviteeSocket.close();
  });

  test("an unknown invitee → 404 User not found; the host themself → 400", async () => {
    const [host] = await users(plain, 1);
    const unknown = await plain.api("/api/sessions", {
      token: host!.token,
      body: { problem: "Two Sum", difficulty: "easy", inviteeId: "0123456789abcdef01234567" },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: "User not found", code: "NOT_FOUND" });
    const self = await plain.api("/api/sessions", {
      token: host!.token,
      body: { problem: "Two Sum", difficulty: "easy", inviteeId: host!.id },
    });
    expect(self.status).toBe(400);
    expect(self.body.errors).toEqual([
      { path: "inviteeId", message: "must be someone other than the host" },
    ]);
  });
});

describe("cancelling", () => {
  test("scheduled → cancelled with endedAt; then no join, no start, no second cancel", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
    const byGuest = await sessionAction(plain.api, guest!, session._id, "cancel");
    expect(byGuest.status).toBe(403);
    const res = await sessionAction(plain.api, host!, session._id, "cancel");
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ status: "cancelled", endedAt: ISO, startedAt: null });
    for (const action of ["join", "start", "cancel", "end"] as const) {
      const user = action === "join" ? guest! : host!;
      const late = await sessionAction(plain.api, user, session._id, action);
      expect({ action, status: late.status, code: late.body.code }).toEqual({
        action,
        status: 400,
        code: "SESSION_CANCELLED",
      });
    }
    const completed = await createSession(plain.api, host!);
    await sessionAction(plain.api, host!, completed._id, "end");
    const cancelEnded = await sessionAction(plain.api, host!, completed._id, "cancel");
    expect(cancelEnded.body.code).toBe("SESSION_COMPLETED");
  });

  test("with Stream: cancelling deletes the call and channel, retried until Stream agrees", async () => {
    const [host, guest] = await users(server, 2);
    const session = await createSession(server.api, host!);
    await sessionAction(server.api, guest!, session._id, "join");
    expect(stream.videoCalls.has(CALL(session.callId))).toBe(true);
    stream.failNext(`POST /api/v2/video/call/default/${session.callId}/delete`, { times: 2 });
    const res = await sessionAction(server.api, host!, session._id, "cancel");
    expect(res.status).toBe(200);
    expect(res.body.session.status).toBe("cancelled");
    const gone = await eventually(
      () =>
        !stream.videoCalls.has(CALL(session.callId)) &&
        !stream.channels.has(CHANNEL(session.callId)),
    );
    expect(gone).toBe(true);
  });

  test("a cancelled session is deleted like a completed one, seat or not", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!);
    await sessionAction(plain.api, guest!, session._id, "join");
    await sessionAction(plain.api, host!, session._id, "cancel");
    const res = await plain.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host!.token,
    });
    expect(res.status).toBe(204);
  });
});

describe("races: every transition is one conditional update", () => {
  const ROUNDS = 8;

  test("two starts at once: exactly one wins", async () => {
    const [host] = await users(plain, 1);
    for (let round = 0; round < ROUNDS; round++) {
      const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
      const results = await Promise.all([
        sessionAction(plain.api, host!, session._id, "start"),
        sessionAction(plain.api, host!, session._id, "start"),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
      expect(results.find((r) => r.status === 400)!.body.code).toBe("SESSION_ALREADY_STARTED");
    }
  });

  test("two cancels at once: exactly one wins", async () => {
    const [host] = await users(plain, 1);
    for (let round = 0; round < ROUNDS; round++) {
      const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
      const results = await Promise.all([
        sessionAction(plain.api, host!, session._id, "cancel"),
        sessionAction(plain.api, host!, session._id, "cancel"),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
      expect(results.find((r) => r.status === 400)!.body.code).toBe("SESSION_CANCELLED");
    }
  });

  test("a start and a cancel at once: the outcome is one that some order of the two gives", async () => {
    const [host] = await users(plain, 1);
    const seen = new Set<string>();
    for (let round = 0; round < ROUNDS * 2; round++) {
      const session = await createSession(plain.api, host!, { scheduledFor: fromNow(30) });
      const [start, cancel] = await Promise.all([
        sessionAction(plain.api, host!, session._id, "start"),
        sessionAction(plain.api, host!, session._id, "cancel"),
      ]);
      const stored = (await read(plain, host!, session._id)).body.session;
      // Cancel is allowed from both scheduled and active, so it always wins; the start won too
      // exactly when it came first, and then the session did start.
      expect(cancel.status).toBe(200);
      expect(stored.status).toBe("cancelled");
      if (start.status === 200) {
        expect(stored.startedAt).toEqual(ISO);
        expect(cancel.body.session.startedAt).toBe(stored.startedAt);
        seen.add("start, then cancel");
      } else {
        expect({ status: start.status, code: start.body.code }).toEqual({
          status: 400,
          code: "SESSION_CANCELLED",
        });
        expect(stored.startedAt).toBeNull();
        seen.add("cancel, then start");
      }
    }
    expect(seen.size).toBeGreaterThan(0);
  });
});

describe("GET /api/sessions/user/:userId", () => {
  test("as host, participant or invitee, newest first, filtered and paged", async () => {
    const [ann, bob, cat] = await users(plain, 3);
    const hosted = await createSession(plain.api, ann!, { difficulty: "easy" });
    const joined = await createSession(plain.api, bob!, { difficulty: "hard" });
    await sessionAction(plain.api, ann!, joined._id, "join");
    const invited = await createSession(plain.api, cat!, {
      scheduledFor: fromNow(60),
      inviteeId: ann!.id,
    });
    const notHers = await createSession(plain.api, bob!);
    await sessionAction(plain.api, ann!, hosted._id, "end");

    const all = await plain.api(`/api/sessions/user/${ann!.id}`, { token: bob!.token });
    expect(all.status).toBe(200);
    expect(all.body.sessions.map((s: any) => s._id)).toEqual([invited._id, joined._id, hosted._id]);
    expect(all.body.hasMore).toBe(false);
    expect(all.body.sessions.map((s: any) => s._id)).not.toContain(notHers._id);

    const first = await plain.api(`/api/sessions/user/${ann!.id}?limit=2`, { token: ann!.token });
    expect(first.body.sessions.map((s: any) => s._id)).toEqual([invited._id, joined._id]);
    expect(first.body.hasMore).toBe(true);
    const rest = await plain.api(`/api/sessions/user/${ann!.id}?limit=2&before=${joined._id}`, {
      token: ann!.token,
    });
    expect(rest.body).toMatchObject({ hasMore: false });
    expect(rest.body.sessions.map((s: any) => s._id)).toEqual([hosted._id]);

    const filtered = async (query: string) =>
      (
        await plain.api(`/api/sessions/user/${ann!.id}?${query}`, { token: ann!.token })
      ).body.sessions.map((s: any) => s._id);
    expect(await filtered("status=scheduled")).toEqual([invited._id]);
    expect(await filtered("status=completed")).toEqual([hosted._id]);
    expect(await filtered("difficulty=hard")).toEqual([joined._id]);
  });

  test("404 for an unknown user; 400 for a bad id, filter or limit; 401 without a token", async () => {
    const [ann] = await users(plain, 1);
    const unknown = await plain.api("/api/sessions/user/0123456789abcdef01234567", {
      token: ann!.token,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: "User not found", code: "NOT_FOUND" });
    for (const path of [
      "/api/sessions/user/nope",
      `/api/sessions/user/${ann!.id}?status=paused`,
      `/api/sessions/user/${ann!.id}?limit=101`,
      `/api/sessions/user/${ann!.id}?before=x`,
    ]) {
      const res = await plain.api(path, { token: ann!.token });
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
    }
    expect((await plain.api(`/api/sessions/user/${ann!.id}`)).status).toBe(401);
  });
});

describe("the Talent Quotient route names", () => {
  test("POST /api/sessions/create is POST /api/sessions; PUT /:id is PATCH /:id", async () => {
    const [host, guest] = await users(plain, 2);
    const created = await plain.api("/api/sessions/create", {
      token: host!.token,
      body: { problem: "  Alias  ", difficulty: "medium", scheduledFor: fromNow(10) },
    });
    expect(created.status).toBe(201);
    expect(created.body.session).toMatchObject({ problem: "Alias", status: "scheduled" });
    const invalid = await plain.api("/api/sessions/create", {
      token: host!.token,
      body: { problem: " ", difficulty: "medium" },
    });
    expect(invalid.status).toBe(400);

    const id = created.body.session._id;
    const put = await plain.api(`/api/sessions/${id}`, {
      method: "PUT",
      token: host!.token,
      body: { problem: " Renamed ", difficulty: "hard" },
    });
    expect(put.status).toBe(200);
    expect(put.body.session).toMatchObject({ problem: "Renamed", difficulty: "hard" });
    const byGuest = await plain.api(`/api/sessions/${id}`, {
      method: "PUT",
      token: guest!.token,
      body: { difficulty: "easy" },
    });
    expect(byGuest.status).toBe(403);
    const empty = await plain.api(`/api/sessions/${id}`, {
      method: "PUT",
      token: host!.token,
      body: {},
    });
    expect(empty.status).toBe(400);
  });

  test("the OpenAPI document describes each alias exactly as its original", async () => {
    const spec = (await plain.api("/swagger/json")).body;
    const strip = (op: any) => ({ ...op, summary: undefined, operationId: undefined });
    const post = spec.paths["/api/sessions"].post;
    const create = spec.paths["/api/sessions/create"].post;
    expect(strip(create)).toEqual(strip(post));
    const patch = spec.paths["/api/sessions/{id}"].patch;
    const put = spec.paths["/api/sessions/{id}"].put;
    expect(strip(put)).toEqual(strip(patch));
    expect(Object.keys(put.responses).sort()).toEqual(
      ["200", "400", "401", "403", "404", "408", "413", "415", "503"].sort(),
    );
  });
});
