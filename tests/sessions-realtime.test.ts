import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createSession, sessionAction } from "./support/sessions.ts";
import { registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/** Stream off: calls go peer-to-peer through `signal`, the editor through `code-update`. */
let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

interface Room {
  host: TestUser;
  guest: TestUser;
  stranger: TestUser;
  sessionId: string;
}

/** A session with its host, a participant who joined, and a stranger who did not. */
async function room(): Promise<Room> {
  const [host, guest, stranger] = await Promise.all([
    registerUser(server.api),
    registerUser(server.api),
    registerUser(server.api),
  ]);
  const session = await createSession(server.api, host);
  const joined = await sessionAction(server.api, guest, session._id, "join");
  expect(joined.status).toBe(200);
  return { host, guest, stranger, sessionId: session._id };
}

/** Opens a socket for `user` and joins the session with it. */
async function joined(user: TestUser, sessionId: string): Promise<TestSocket> {
  const socket = await server.socket(user.token);
  socket.send("join-session", sessionId, "js");
  const ack = await socket.next("session-joined");
  expect(ack).toEqual({ event: "session-joined", data: { sessionId }, ref: "js" });
  return socket;
}

/** Lets frames in flight arrive before a test asserts that something did not. */
const settle = () => Bun.sleep(100);

const events = (socket: TestSocket, event: string) =>
  socket.frames.filter((f) => f.event === event);

describe("join-session and leave-session", () => {
  test("the others there hear peer-joined and peer-left; a stranger gets NOT_FOUND", async () => {
    const { host, guest, stranger, sessionId } = await room();
    const h = await joined(host, sessionId);
    const g = await joined(guest, sessionId);
    expect((await h.next("peer-joined")).data).toEqual({ sessionId, userId: guest.id });
    await settle();
    expect(events(g, "peer-joined")).toEqual([]);

    const s = await server.socket(stranger.token);
    s.send("join-session", sessionId, "x");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "x" });

    g.send("leave-session", sessionId);
    expect((await h.next("peer-left")).data).toEqual({ sessionId, userId: guest.id });
    await Promise.all([h.close(), g.close(), s.close()]);
  });

  test("a socket that closes is a peer-left for the sessions it joined", async () => {
    const { host, guest, sessionId } = await room();
    const h = await joined(host, sessionId);
    const g = await joined(guest, sessionId);
    await h.next("peer-joined");
    await g.close();
    expect((await h.next("peer-left")).data).toEqual({ sessionId, userId: guest.id });
    await h.close();
  });

  test("a completed session cannot be joined", async () => {
    const { host, sessionId } = await room();
    await sessionAction(server.api, host, sessionId, "end");
    const socket = await server.socket(host.token);
    socket.send("join-session", sessionId, "late");
    expect((await socket.next("socket-error")).data).toMatchObject({
      code: "SESSION_COMPLETED",
      ref: "late",
    });
    await socket.close();
  });
});

describe("signal", () => {
  test("reaches only its addressee, and only between host and participant", async () => {
    const { host, guest, stranger, sessionId } = await room();
    const h = await joined(host, sessionId);
    const g = await joined(guest, sessionId);
    const s = await server.socket(stranger.token);
    await s.next("online-users");

    const offer = { type: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" };
    h.send("signal", { sessionId, to: guest.id, type: "offer", payload: offer });
    expect((await g.next("signal")).data).toEqual({
      sessionId,
      from: host.id,
      type: "offer",
      payload: offer,
    });
    g.send("signal", { sessionId, to: host.id, type: "answer", payload: { type: "answer" } });
    expect((await h.next("signal")).data).toMatchObject({ from: guest.id, type: "answer" });

    // A stranger can neither send one...
    s.send("signal", { sessionId, to: host.id, type: "offer", payload: {} }, "s1");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "s1" });
    // ...nor be sent one, and nobody signals themselves.
    h.send("signal", { sessionId, to: stranger.id, type: "offer", payload: {} }, "h1");
    expect((await h.next("socket-error")).data).toMatchObject({ code: "FORBIDDEN", ref: "h1" });
    g.send("signal", { sessionId, to: guest.id, type: "ice-candidate", payload: {} }, "g1");
    expect((await g.next("socket-error")).data).toMatchObject({ code: "FORBIDDEN", ref: "g1" });

    await settle();
    expect(events(s, "signal")).toEqual([]);
    expect(events(h, "signal")).toHaveLength(1);
    expect(events(g, "signal")).toHaveLength(1);
    await Promise.all([h.close(), g.close(), s.close()]);
  });

  test("once the participant has left, the seat's new holder is signalled, not the old one", async () => {
    const { host, guest, stranger: next, sessionId } = await room();
    const h = await joined(host, sessionId);
    const g = await joined(guest, sessionId);
    h.send("signal", { sessionId, to: guest.id, type: "offer", payload: { n: 1 } });
    await g.next("signal");

    expect((await sessionAction(server.api, guest, sessionId, "leave")).status).toBe(200);
    h.send("signal", { sessionId, to: guest.id, type: "offer", payload: { n: 2 } }, "old");
    expect((await h.next("socket-error")).data).toMatchObject({ code: "FORBIDDEN", ref: "old" });
    g.send("signal", { sessionId, to: host.id, type: "answer", payload: {} }, "gone");
    expect((await g.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "gone" });

    expect((await sessionAction(server.api, next, sessionId, "join")).status).toBe(200);
    const n = await joined(next, sessionId);
    h.send("signal", { sessionId, to: next.id, type: "offer", payload: { n: 3 } });
    expect((await n.next("signal")).data).toMatchObject({ from: host.id, payload: { n: 3 } });
    await settle();
    expect(events(g, "signal")).toHaveLength(1);
    await Promise.all([h.close(), g.close(), n.close()]);
  });

  test("a payload over 32 KiB or a bad type → VALIDATION", async () => {
    const { host, guest, sessionId } = await room();
    const h = await joined(host, sessionId);
    const big = { sdp: "x".repeat(33 * 1024) };
    h.send("signal", { sessionId, to: guest.id, type: "offer", payload: big }, "big");
    expect((await h.next("socket-error")).data).toMatchObject({ code: "VALIDATION", ref: "big" });
    h.send("signal", { sessionId, to: guest.id, type: "hello", payload: {} }, "type");
    expect((await h.next("socket-error")).data).toMatchObject({ code: "VALIDATION", ref: "type" });
    await h.close();
  });
});

describe("toggle-media", () => {
  test("goes to the other side", async () => {
    const { host, guest, sessionId } = await room();
    const h = await joined(host, sessionId);
    const g = await joined(guest, sessionId);
    g.send("toggle-media", { sessionId, kind: "video", enabled: false });
    expect((await h.next("toggle-media")).data).toEqual({
      sessionId,
      userId: guest.id,
      kind: "video",
      enabled: false,
    });
    await settle();
    expect(events(g, "toggle-media")).toEqual([]);
    await Promise.all([h.close(), g.close()]);
  });
});

describe("code-update", () => {
  test("the next version is stored and reaches the other side; a stale one is a CONFLICT", async () => {
    const { host, guest, sessionId } = await room();
    const h = await joined(host, sessionId);
    const g = await joined(guest, sessionId);

    h.send("code-update", { sessionId, language: "python", text: "print(1)", version: 1 }, "c1");
    expect(await h.next("code-accepted")).toEqual({
      event: "code-accepted",
      data: { sessionId, version: 1 },
      ref: "c1",
    });
    expect((await g.next("code-update")).data).toEqual({
      sessionId,
      userId: host.id,
      language: "python",
      text: "print(1)",
      version: 1,
    });
    const stored = await server.api(`/api/sessions/${sessionId}`, { token: guest.token });
    expect(stored.body.session.code).toEqual({ language: "python", text: "print(1)", version: 1 });

    // The guest typed on top of version 0 too: refused, with what is stored.
    g.send("code-update", { sessionId, language: "python", text: "print(2)", version: 1 }, "c2");
    const conflict = await g.next("socket-error");
    expect(conflict.data).toMatchObject({
      code: "CONFLICT",
      ref: "c2",
      version: 1,
      language: "python",
      text: "print(1)",
    });
    g.send("code-update", { sessionId, language: "python", text: "print(2)", version: 2 }, "c3");
    await g.next("code-accepted");
    expect((await h.next("code-update")).data).toMatchObject({ userId: guest.id, version: 2 });
    await settle();
    expect(events(h, "code-update")).toHaveLength(1);
    expect(events(g, "code-update")).toHaveLength(1);
    await Promise.all([h.close(), g.close()]);
  });

  test("a stranger → NOT_FOUND; a completed session → SESSION_COMPLETED; too long → VALIDATION", async () => {
    const { host, stranger, sessionId } = await room();
    const s = await server.socket(stranger.token);
    s.send("code-update", { sessionId, language: "js", text: "hack", version: 1 }, "s");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "s" });

    const h = await joined(host, sessionId);
    h.send("code-update", { sessionId, language: "js", text: "x".repeat(50_001), version: 1 }, "l");
    expect((await h.next("socket-error")).data).toMatchObject({ code: "VALIDATION", ref: "l" });

    await sessionAction(server.api, host, sessionId, "end");
    h.send("code-update", { sessionId, language: "js", text: "late", version: 1 }, "e");
    expect((await h.next("socket-error")).data).toMatchObject({
      code: "SESSION_COMPLETED",
      ref: "e",
    });
    const stored = await server.api(`/api/sessions/${sessionId}`, { token: host.token });
    expect(stored.body.session.code).toEqual({ language: "javascript", text: "", version: 0 });
    await Promise.all([h.close(), s.close()]);
  });
});

describe("session-updated", () => {
  test("host and participant hear it after join, leave and end, on every socket", async () => {
    const [host, guest] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
    const session = await createSession(server.api, host);
    const sessionId = session._id;
    // No join-session needed: session-updated goes to the users' own topics.
    const h = await server.socket(host.token);
    const g = await server.socket(guest.token);
    await Promise.all([h.next("online-users"), g.next("online-users")]);

    await sessionAction(server.api, guest, sessionId, "join");
    for (const socket of [h, g]) {
      const { data } = await socket.next("session-updated");
      expect(data.session).toMatchObject({ _id: sessionId, participant: { _id: guest.id } });
    }
    await sessionAction(server.api, guest, sessionId, "leave");
    for (const socket of [h, g]) {
      const { data } = await socket.next("session-updated");
      expect(data.session).toMatchObject({ _id: sessionId, participant: null });
    }
    await sessionAction(server.api, guest, sessionId, "join");
    await Promise.all([h.next("session-updated"), g.next("session-updated")]);
    await sessionAction(server.api, host, sessionId, "end");
    for (const socket of [h, g]) {
      const { data } = await socket.next("session-updated");
      expect(data.session).toMatchObject({ _id: sessionId, status: "completed" });
    }
    await Promise.all([h.close(), g.close()]);
  });
});
