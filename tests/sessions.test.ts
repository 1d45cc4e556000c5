import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { clerkKeys, sessionToken } from "./support/fake-clerk.ts";
import { type FakeStream, fakeStream } from "./support/fake-stream.ts";
import {
  CALL,
  CHANNEL,
  createSession,
  eventually,
  ISO,
  sessionAction,
  uniqueProblem,
  users,
} from "./support/sessions.ts";
import { registerUser, type TestUser } from "./support/users.ts";

let stream: FakeStream;
/** With Stream (the fake), and a fast cleanup retrier. */
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

describe("POST /api/sessions with Stream", () => {
  test("creates the session, the video call and the chat channel with the host in it", async () => {
    const [host] = await users(server, 1);
    const problem = uniqueProblem("Two Sum");
    const res = await server.api("/api/sessions", {
      token: host!.token,
      body: { problem: `  ${problem}  `, difficulty: "easy" },
    });
    expect(res.status).toBe(201);
    const { session } = res.body;
    expect(session).toEqual({
      _id: expect.stringMatching(/^[0-9a-f]{24}$/),
      problem,
      difficulty: "easy",
      description: "",
      host: expect.objectContaining({ _id: host!.id, name: host!.name, role: "candidate" }),
      participant: null,
      invitee: null,
      status: "active",
      callId: expect.any(String),
      chatId: expect.stringMatching(/^[0-9a-f]{24}$/),
      code: { language: "javascript", text: "", version: 0 },
      scheduledFor: null,
      durationMinutes: 60,
      startedAt: ISO,
      createdAt: ISO,
      updatedAt: ISO,
    });
    expect(session.host.passwordHash).toBeUndefined();
    expect(stream.videoCalls.get(CALL(session.callId))).toMatchObject({
      created_by_id: host!.id,
      custom: { sessionId: session._id, problem, difficulty: "easy" },
    });
    const channel = stream.channels.get(CHANNEL(session.callId));
    expect(channel?.created_by_id).toBe(host!.id);
    expect([...channel!.members]).toEqual([host!.id]);
    expect(stream.users.get(host!.id)).toMatchObject({ name: host!.name });
    expect(stream.refused).toEqual([]);
  });

  test("a Clerk host is known to Stream by their Clerk id", async () => {
    const keys = await clerkKeys();
    const clerkApp = await startTestApp({ CLERK_JWT_KEY: keys.publicPem, ...stream.env });
    try {
      const clerkId = `user_${crypto.randomUUID().slice(0, 12)}`;
      const token = await sessionToken(keys, clerkId, { claims: { name: "Clerk Host" } });
      const res = await clerkApp.api("/api/sessions", {
        token,
        body: { problem: uniqueProblem(), difficulty: "hard" },
      });
      expect(res.status).toBe(201);
      const { callId } = res.body.session;
      expect(stream.videoCalls.get(CALL(callId))?.created_by_id).toBe(clerkId);
      expect([...stream.channels.get(CHANNEL(callId))!.members]).toEqual([clerkId]);
    } finally {
      await clerkApp.stop();
    }
  });

  test("the channel failing → 502, no session, and the call it made is deleted", async () => {
    const [host] = await users(server, 1);
    const problem = uniqueProblem("Doomed");
    stream.failNext("POST /api/v2/chat/channels/messaging/");
    const res = await server.api("/api/sessions", {
      token: host!.token,
      body: { problem, difficulty: "medium" },
    });
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ message: expect.any(String), code: "UPSTREAM" });

    const created = stream
      .callsTo("POST /api/v2/video/call/default/")
      .find((call) => call.body?.data?.custom?.problem === problem);
    expect(created).toBeDefined();
    const callId = created!.path.split("/").at(-1)!;
    expect(stream.callsTo(`POST /api/v2/video/call/default/${callId}/delete`)).toHaveLength(1);
    expect(stream.videoCalls.has(CALL(callId))).toBe(false);
    expect(stream.channels.has(CHANNEL(callId))).toBe(false);

    const active = await server.api("/api/sessions/active", { token: host!.token });
    expect(active.body.sessions.map((s: any) => s.problem)).not.toContain(problem);
    const all = await server.api("/api/sessions?limit=100", { token: host!.token });
    expect(all.body.sessions.map((s: any) => s.problem)).not.toContain(problem);
  });

  test("the call failing → 502 and no session", async () => {
    const [host] = await users(server, 1);
    const problem = uniqueProblem("No call");
    stream.failNext("POST /api/v2/video/call/default/");
    const res = await server.api("/api/sessions", {
      token: host!.token,
      body: { problem, difficulty: "medium" },
    });
    expect(res.status).toBe(502);
    const all = await server.api("/api/sessions?limit=100", { token: host!.token });
    expect(all.body.sessions.map((s: any) => s.problem)).not.toContain(problem);
  });
});

describe("joining", () => {
  test("the participant takes the seat and joins the Stream channel", async () => {
    const [host, guest] = await users(server, 2);
    const session = await createSession(server.api, host!);
    const res = await sessionAction(server.api, guest!, session._id, "join");
    expect(res.status).toBe(200);
    expect(res.body.session.participant).toMatchObject({ _id: guest!.id, name: guest!.name });
    expect([...stream.channels.get(CHANNEL(session.callId))!.members].sort()).toEqual(
      [host!.id, guest!.id].sort(),
    );
    // Again: a harmless repeat.
    const again = await sessionAction(server.api, guest!, session._id, "join");
    expect(again.status).toBe(200);
    expect(again.body.session.participant._id).toBe(guest!.id);
  });

  test("10 joins at the same moment → exactly one 200 and nine 409 SESSION_FULL", async () => {
    const [host, ...guests] = await users(server, 11);
    const session = await createSession(server.api, host!);
    const results = await Promise.all(
      guests.map((guest) => sessionAction(server.api, guest, session._id, "join")),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array(9).fill(409)]);
    for (const r of results.filter((r) => r.status === 409)) {
      expect(r.body).toEqual({ message: expect.any(String), code: "SESSION_FULL" });
    }
    const winner = results.find((r) => r.status === 200)!.body.session.participant._id;
    const stored = await server.api(`/api/sessions/${session._id}`, { token: host!.token });
    expect(stored.body.session.participant._id).toBe(winner);
    expect([...stream.channels.get(CHANNEL(session.callId))!.members].sort()).toEqual(
      [host!.id, winner].sort(),
    );
  });

  test("404 unknown, 400 the host, 400 completed", async () => {
    const [host, guest] = await users(plain, 2);
    const unknown = await sessionAction(plain.api, guest!, "0123456789abcdef01234567", "join");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: "Session not found", code: "NOT_FOUND" });

    const session = await createSession(plain.api, host!);
    const byHost = await sessionAction(plain.api, host!, session._id, "join");
    expect(byHost.status).toBe(400);
    expect(byHost.body.code).toBe("HOST_CANNOT_JOIN");

    await sessionAction(plain.api, host!, session._id, "end");
    const late = await sessionAction(plain.api, guest!, session._id, "join");
    expect(late.status).toBe(400);
    expect(late.body.code).toBe("SESSION_COMPLETED");
  });

  test("Stream failing to add the member → 502 and the seat stays free", async () => {
    const [host, unlucky, next] = await users(server, 3);
    const session = await createSession(server.api, host!);
    stream.failNext(`POST /api/v2/chat/channels/messaging/${session.callId}`);
    const res = await sessionAction(server.api, unlucky!, session._id, "join");
    expect(res.status).toBe(502);
    const stored = await server.api(`/api/sessions/${session._id}`, { token: host!.token });
    expect(stored.body.session.participant).toBeNull();
    expect((await sessionAction(server.api, next!, session._id, "join")).status).toBe(200);
  });
});

describe("leaving", () => {
  test("the participant leaves, the seat is free and they are out of the channel", async () => {
    const [host, guest, other] = await users(server, 3);
    const session = await createSession(server.api, host!);
    await sessionAction(server.api, guest!, session._id, "join");
    const res = await sessionAction(server.api, guest!, session._id, "leave");
    expect(res.status).toBe(200);
    expect(res.body.session.participant).toBeNull();
    expect([...stream.channels.get(CHANNEL(session.callId))!.members]).toEqual([host!.id]);
    expect((await sessionAction(server.api, other!, session._id, "join")).status).toBe(200);
  });

  test("the host cannot leave (400); someone else is not the participant (403)", async () => {
    const [host, guest, stranger] = await users(plain, 3);
    const session = await createSession(plain.api, host!);
    await sessionAction(plain.api, guest!, session._id, "join");
    const byHost = await sessionAction(plain.api, host!, session._id, "leave");
    expect(byHost.status).toBe(400);
    expect(byHost.body.code).toBe("HOST_CANNOT_LEAVE");
    const byStranger = await sessionAction(plain.api, stranger!, session._id, "leave");
    expect(byStranger.status).toBe(403);
    expect(byStranger.body.code).toBe("FORBIDDEN");
  });
});

describe("ending", () => {
  test("the host ends it: completed, endedAt, and the call and channel are deleted", async () => {
    const [host, guest] = await users(server, 2);
    const session = await createSession(server.api, host!);
    await sessionAction(server.api, guest!, session._id, "join");
    const res = await sessionAction(server.api, host!, session._id, "end");
    expect(res.status).toBe(200);
    expect(res.body.message).toBe("Session ended successfully");
    expect(res.body.session).toMatchObject({ status: "completed", endedAt: ISO });
    expect(res.body.session.participant._id).toBe(guest!.id);
    expect(stream.videoCalls.has(CALL(session.callId))).toBe(false);
    expect(stream.channels.has(CHANNEL(session.callId))).toBe(false);
  });

  test("anyone but the host → 403; ending twice → 400", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!);
    await sessionAction(plain.api, guest!, session._id, "join");
    const byGuest = await sessionAction(plain.api, guest!, session._id, "end");
    expect(byGuest.status).toBe(403);
    expect(byGuest.body).toEqual({ message: expect.any(String), code: "FORBIDDEN" });
    expect((await sessionAction(plain.api, host!, session._id, "end")).status).toBe(200);
    const twice = await sessionAction(plain.api, host!, session._id, "end");
    expect(twice.status).toBe(400);
    expect(twice.body.code).toBe("SESSION_COMPLETED");
  });

  test("Stream failing at the end → completed anyway; the cleanup is retried until done", async () => {
    const [host] = await users(server, 1);
    const session = await createSession(server.api, host!);
    const deleteCall = `POST /api/v2/video/call/default/${session.callId}/delete`;
    const deleteChannel = `DELETE /api/v2/chat/channels/messaging/${session.callId}`;
    stream.failNext(deleteCall, { times: 3 });
    stream.failNext(deleteChannel, { times: 1, status: 503 });

    const res = await sessionAction(server.api, host!, session._id, "end");
    expect(res.status).toBe(200);
    expect(res.body.session.status).toBe("completed");
    expect(stream.videoCalls.has(CALL(session.callId))).toBe(true);

    const gone = await eventually(
      () =>
        !stream.videoCalls.has(CALL(session.callId)) &&
        !stream.channels.has(CHANNEL(session.callId)),
    );
    expect(gone).toBe(true);
    expect(stream.callsTo(deleteCall)).toHaveLength(4);
    expect(stream.callsTo(deleteChannel)).toHaveLength(2);
    // Done means done: nothing is retried any more.
    await Bun.sleep(150);
    expect(stream.callsTo(deleteCall)).toHaveLength(4);
    expect(stream.callsTo(deleteChannel)).toHaveLength(2);
  });
});

describe("PATCH /api/sessions/:id", () => {
  test("the host changes the problem and difficulty while active", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!);
    const res = await plain.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: { problem: "  Reverse a list ", difficulty: "hard" },
    });
    expect(res.status).toBe(200);
    expect(res.body.session).toMatchObject({ problem: "Reverse a list", difficulty: "hard" });

    const byGuest = await plain.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: guest!.token,
      body: { difficulty: "easy" },
    });
    expect(byGuest.status).toBe(403);
    const empty = await plain.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: {},
    });
    expect(empty.status).toBe(400);
    expect(empty.body.code).toBe("VALIDATION");

    await sessionAction(plain.api, host!, session._id, "end");
    const late = await plain.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: { difficulty: "easy" },
    });
    expect(late.status).toBe(400);
    expect(late.body.code).toBe("SESSION_COMPLETED");
  });
});

describe("PATCH /api/sessions/:id with Stream", () => {
  test("the call's custom data follows the change", async () => {
    const [host] = await users(server, 1);
    const session = await createSession(server.api, host!, { difficulty: "easy" });
    const problem = uniqueProblem("Renamed");
    const res = await server.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: { problem, difficulty: "hard" },
    });
    expect(res.status).toBe(200);
    expect(stream.videoCalls.get(CALL(session.callId))).toMatchObject({
      custom: { sessionId: session._id, problem, difficulty: "hard" },
    });
  });

  test("Stream failing on the update → the change stands, 200", async () => {
    const [host] = await users(server, 1);
    const session = await createSession(server.api, host!);
    stream.failNext(`PATCH /api/v2/video/call/default/${session.callId}`);
    const res = await server.api(`/api/sessions/${session._id}`, {
      method: "PATCH",
      token: host!.token,
      body: { difficulty: "hard" },
    });
    expect(res.status).toBe(200);
    expect(res.body.session.difficulty).toBe("hard");
  });
});

describe("DELETE /api/sessions/:id", () => {
  test("the host deletes an empty session, and its Stream call and channel go too", async () => {
    const [host, guest] = await users(server, 2);
    const session = await createSession(server.api, host!);
    const byGuest = await server.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: guest!.token,
    });
    expect(byGuest.status).toBe(403);
    const res = await server.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host!.token,
    });
    expect(res.status).toBe(204);
    expect(stream.videoCalls.has(CALL(session.callId))).toBe(false);
    expect(stream.channels.has(CHANNEL(session.callId))).toBe(false);
    const after = await server.api(`/api/sessions/${session._id}`, { token: host!.token });
    expect(after.status).toBe(404);
  });

  test("with someone in an active session → 409 SESSION_IN_PROGRESS; once completed → 204", async () => {
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!);
    await sessionAction(plain.api, guest!, session._id, "join");
    const busy = await plain.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host!.token,
    });
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe("SESSION_IN_PROGRESS");
    await sessionAction(plain.api, host!, session._id, "end");
    const res = await plain.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host!.token,
    });
    expect(res.status).toBe(204);
  });
});

describe("lists", () => {
  let app: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  beforeAll(async () => {
    app = await startTestApp();
    [alice, bob, carol] = await Promise.all([
      registerUser(app.api),
      registerUser(app.api),
      registerUser(app.api),
    ]);
  });
  afterAll(async () => {
    await app.stop();
  });

  test("GET /api/sessions: newest first, filtered, paged by before", async () => {
    const made: any[] = [];
    for (const difficulty of ["easy", "hard", "easy", "medium", "easy"]) {
      made.push(await createSession(app.api, alice, { difficulty }));
    }
    await sessionAction(app.api, alice, made[0]._id, "end");

    const first = await app.api("/api/sessions?limit=2", { token: bob.token });
    expect(first.status).toBe(200);
    expect(first.body.sessions.map((s: any) => s._id)).toEqual([made[4]._id, made[3]._id]);
    expect(first.body.hasMore).toBe(true);
    const second = await app.api(`/api/sessions?limit=2&before=${made[3]._id}`, {
      token: bob.token,
    });
    expect(second.body.sessions.map((s: any) => s._id)).toEqual([made[2]._id, made[1]._id]);
    const last = await app.api(`/api/sessions?limit=2&before=${made[1]._id}`, {
      token: bob.token,
    });
    expect(last.body).toMatchObject({ hasMore: false });
    expect(last.body.sessions.map((s: any) => s._id)).toEqual([made[0]._id]);

    const easyActive = await app.api("/api/sessions?status=active&difficulty=easy", {
      token: bob.token,
    });
    expect(easyActive.body.sessions.map((s: any) => s._id)).toEqual([made[4]._id, made[2]._id]);
    const completed = await app.api("/api/sessions?status=completed", { token: bob.token });
    expect(completed.body.sessions.map((s: any) => s._id)).toEqual([made[0]._id]);
  });

  test("/active: the latest active ones, host and participant populated", async () => {
    const session = await createSession(app.api, carol);
    await sessionAction(app.api, bob, session._id, "join");
    const res = await app.api("/api/sessions/active", { token: alice.token });
    expect(res.status).toBe(200);
    expect(res.body.sessions[0]).toMatchObject({
      _id: session._id,
      host: { _id: carol.id, name: carol.name },
      participant: { _id: bob.id, name: bob.name },
    });
    expect(res.body.sessions.every((s: any) => s.status === "active")).toBe(true);
  });

  test("/my-recent: completed ones the caller hosted or joined, last ended first", async () => {
    const hosted = await createSession(app.api, bob);
    const joined = await createSession(app.api, carol);
    const notMine = await createSession(app.api, carol);
    await sessionAction(app.api, bob, joined._id, "join");
    await sessionAction(app.api, carol, joined._id, "end");
    await sessionAction(app.api, bob, hosted._id, "end");
    await sessionAction(app.api, carol, notMine._id, "end");
    const stillActive = await createSession(app.api, bob);

    const res = await app.api("/api/sessions/my-recent", { token: bob.token });
    expect(res.status).toBe(200);
    const ids = res.body.sessions.map((s: any) => s._id);
    expect(ids).toEqual([hosted._id, joined._id]);
    expect(ids).not.toContain(stillActive._id);
  });
});

describe("with Stream off", () => {
  test("create, join, end and delete work, and Stream hears nothing", async () => {
    const before = stream.calls.length;
    const [host, guest] = await users(plain, 2);
    const session = await createSession(plain.api, host!);
    expect(session.callId).toEqual(expect.any(String));
    const joined = await sessionAction(plain.api, guest!, session._id, "join");
    expect(joined.status).toBe(200);
    expect((await sessionAction(plain.api, guest!, session._id, "leave")).status).toBe(200);
    expect((await sessionAction(plain.api, guest!, session._id, "join")).status).toBe(200);
    const ended = await sessionAction(plain.api, host!, session._id, "end");
    expect(ended.status).toBe(200);
    expect(ended.body.session.status).toBe("completed");
    const removed = await plain.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host!.token,
    });
    expect(removed.status).toBe(204);
    expect(stream.calls.length).toBe(before);
  });
});

describe("validation", () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await registerUser(plain.api);
  });

  test("a bad difficulty or problem → 400 VALIDATION naming the field", async () => {
    for (const [body, path] of [
      [{ problem: "Two Sum", difficulty: "impossible" }, "difficulty"],
      [{ problem: "   ", difficulty: "easy" }, "problem"],
      [{ problem: "x".repeat(201), difficulty: "easy" }, "problem"],
      [{ difficulty: "easy" }, "problem"],
    ] as const) {
      const res = await plain.api("/api/sessions", { token: user.token, body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("VALIDATION");
      expect(res.body.errors.map((e: any) => e.path)).toContain(path);
    }
    const ok = await plain.api("/api/sessions", {
      token: user.token,
      body: { problem: "x".repeat(200), difficulty: "easy" },
    });
    expect(ok.status).toBe(201);
  });

  test("a malformed id → 400; an unknown one → 404 Session not found", async () => {
    const malformed = await plain.api("/api/sessions/not-an-id", { token: user.token });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("VALIDATION");
    for (const [path, method] of [
      ["", "GET"],
      ["", "PATCH"],
      ["", "DELETE"],
      ["/join", "POST"],
      ["/leave", "POST"],
      ["/end", "POST"],
    ] as const) {
      const res = await plain.api(`/api/sessions/0123456789abcdef01234567${path}`, {
        method,
        token: user.token,
        body: method === "PATCH" ? { difficulty: "easy" } : undefined,
      });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ message: "Session not found", code: "NOT_FOUND" });
    }
  });

  test("list query limits: limit 1–100, before an id, known filters", async () => {
    for (const query of ["limit=0", "limit=101", "before=nope", "status=paused"]) {
      const res = await plain.api(`/api/sessions?${query}`, { token: user.token });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("VALIDATION");
    }
  });

  test("no token → 401 on every route", async () => {
    for (const [path, method] of [
      ["/api/sessions", "GET"],
      ["/api/sessions", "POST"],
      ["/api/sessions/active", "GET"],
      ["/api/sessions/my-recent", "GET"],
      ["/api/sessions/0123456789abcdef01234567", "GET"],
      ["/api/sessions/0123456789abcdef01234567/join", "POST"],
    ] as const) {
      const body = method === "POST" ? { problem: "Two Sum", difficulty: "easy" } : undefined;
      const res = await plain.api(path, { method, body });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("UNAUTHORIZED");
    }
  });
});
