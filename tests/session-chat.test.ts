import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { canScaleOut, type TwoInstances, twoInstances } from "./support/cluster.ts";
import { type FakeStream, fakeStream } from "./support/fake-stream.ts";
import { createSession, fromNow, sessionAction } from "./support/sessions.ts";
import { registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * Every session has a chat of its own, an ordinary chat (seq, acknowledgements, resume, typing,
 * read marks) whose members follow the seat: the host always, the participant while they hold
 * it. Ending or cancelling the session freezes it.
 */
let plain: TestApp;
let stream: FakeStream;
let streamed: TestApp;

beforeAll(async () => {
  stream = fakeStream();
  [plain, streamed] = await Promise.all([startTestApp(), startTestApp(stream.env)]);
});
afterAll(async () => {
  await Promise.all([plain.stop(), streamed.stop()]);
  await stream.stop();
});

/** Lets frames in flight arrive before a test asserts that something did not. */
const settle = () => Bun.sleep(150);
const events = (socket: TestSocket, event: string) =>
  socket.frames.filter((f) => f.event === event);

interface Interview {
  host: TestUser;
  guest: TestUser;
  stranger: TestUser;
  session: any;
  chatId: string;
}

/** A session on `app` with a participant who joined, and a stranger. */
async function interview(app: TestApp = plain): Promise<Interview> {
  const [host, guest, stranger] = await Promise.all([
    registerUser(app.api),
    registerUser(app.api),
    registerUser(app.api),
  ]);
  const session = await createSession(app.api, host);
  expect((await sessionAction(app.api, guest, session._id, "join")).status).toBe(200);
  return { host, guest, stranger, session, chatId: session.chatId };
}

/** A socket of `user` on `app` that joined the chat. */
async function inChat(app: TestApp, user: TestUser, chatId: string): Promise<TestSocket> {
  const socket = await app.socket(user.token);
  socket.send("join-chat", chatId, "j");
  await socket.next("chat-joined");
  return socket;
}

const history = (app: TestApp, user: TestUser, sessionId: string, query = "") =>
  app.api(`/api/chat/history/${sessionId}${query}`, { token: user.token });

const save = (app: TestApp, user: TestUser, body: Record<string, unknown>) =>
  app.api("/api/chat/save-message", { token: user.token, body });

describe("the session's chat", () => {
  test("made with the session; the host is its one member until someone takes the seat", async () => {
    const [host, guest] = await Promise.all([registerUser(plain.api), registerUser(plain.api)]);
    const session = await createSession(plain.api, host);
    expect(session.chatId).toMatch(/^[0-9a-f]{24}$/);
    const empty = await history(plain, host, session._id);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ messages: [], hasMore: false });
    expect((await history(plain, guest, session._id)).status).toBe(404);
    expect(
      (await plain.api(`/api/messages/chat/${session.chatId}`, { token: guest.token })).status,
    ).toBe(404);

    await sessionAction(plain.api, guest, session._id, "join");
    expect((await history(plain, guest, session._id)).status).toBe(200);
    const sessions = await plain.api(`/api/chats?kind=session`, { token: guest.token });
    expect(sessions.body.chats).toHaveLength(1);
    expect(sessions.body.chats[0]).toMatchObject({
      _id: session.chatId,
      kind: "session",
      sessionId: session._id,
    });
    expect(sessions.body.chats[0].participants.map((p: { _id: string }) => p._id).sort()).toEqual(
      [host.id, guest.id].sort(),
    );
  });

  test("on /ws it is a chat like any other: acknowledgements, typing, read marks, resume", async () => {
    const { host, guest, chatId } = await interview();
    const h = await inChat(plain, host, chatId);
    const g = await inChat(plain, guest, chatId);

    g.send("send-message", { chatId, text: "Hello!", clientId: "g-1" }, "s1");
    const ack = await g.next("message-sent");
    expect(ack.ref).toBe("s1");
    expect(ack.data.message).toMatchObject({ chat: chatId, seq: 1, text: "Hello!" });
    expect((await h.next("new-message")).data._id).toBe(ack.data.message._id);

    h.send("typing", { chatId, isTyping: true });
    expect((await g.next("typing")).data).toEqual({ userId: host.id, chatId, isTyping: true });
    h.send("send-message", { chatId, text: "Hi, ready?" });
    await g.next("new-message", (m) => m.seq === 2);
    g.send("mark-read", { chatId, seq: 2 });
    expect((await h.next("chat-read")).data).toEqual({ chatId, userId: guest.id, seq: 2 });

    const later = await plain.socket(guest.token);
    later.send("join-chat", { chatId, after: 1 });
    expect((await later.next("new-message")).data).toMatchObject({ seq: 2, text: "Hi, ready?" });
    await Promise.all([h.close(), g.close(), later.close()]);
  });

  test("a participant who leaves stops receiving it at once, even on sockets that cached it", async () => {
    const { host, guest, session, chatId } = await interview();
    const h = await inChat(plain, host, chatId);
    const g = await inChat(plain, guest, chatId);
    // Both sockets have acted in the chat, so both hold its membership.
    h.send("send-message", { chatId, text: "one" });
    await g.next("new-message", (m) => m.text === "one");
    g.send("send-message", { chatId, text: "two" });
    await h.next("new-message", (m) => m.text === "two");
    g.send("typing", { chatId, isTyping: true });
    await h.next("typing");
    await settle();
    const typingBefore = events(g, "typing").length;

    expect((await sessionAction(plain.api, guest, session._id, "leave")).status).toBe(200);
    h.send("send-message", { chatId, text: "after you left" }, "after");
    await h.next("message-sent");
    h.send("typing", { chatId, isTyping: true });
    g.send("send-message", { chatId, text: "still here?" }, "late");
    expect((await g.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "late" });
    g.send("typing", { chatId, isTyping: true }, "t");
    expect((await g.next("socket-error", (d) => d.ref === "t")).data.code).toBe("NOT_FOUND");
    await settle();
    expect(events(g, "new-message").map((f) => f.data.text)).toEqual(["one", "two"]);
    expect(events(g, "typing")).toHaveLength(typingBefore);
    expect((await history(plain, guest, session._id)).status).toBe(404);

    // The next participant reads everything, from the start.
    const [next] = await Promise.all([registerUser(plain.api)]);
    await sessionAction(plain.api, next!, session._id, "join");
    const read = await history(plain, next!, session._id);
    expect(read.body.messages.map((m: { text: string }) => m.text)).toEqual([
      "one",
      "two",
      "after you left",
    ]);
    await Promise.all([h.close(), g.close()]);
  });

  test("end freezes it: nothing new, over REST or /ws; both still read it; a resend still answers", async () => {
    const { host, guest, session, chatId } = await interview();
    const h = await inChat(plain, host, chatId);
    const g = await inChat(plain, guest, chatId);
    g.send("send-message", { chatId, text: "before the end", clientId: "g-end" });
    const stored = (await g.next("message-sent")).data.message;

    await sessionAction(plain.api, host, session._id, "end");
    g.send("send-message", { chatId, text: "too late" }, "x");
    expect((await g.next("socket-error")).data).toMatchObject({ code: "CHAT_FROZEN", ref: "x" });
    h.send("typing", { chatId, isTyping: true }, "t");
    expect((await h.next("socket-error")).data).toMatchObject({ code: "CHAT_FROZEN", ref: "t" });
    const rest = await save(plain, host, { sessionId: session._id, text: "too late" });
    expect(rest.status).toBe(409);
    expect(rest.body).toEqual({ message: expect.any(String), code: "CHAT_FROZEN" });
    const direct = await plain.api(`/api/messages/chat/${chatId}`, {
      token: host.token,
      body: { text: "too late" },
    });
    expect(direct.status).toBe(409);

    // A client whose acknowledgement was lost resends after the end: it gets its message back.
    const resent = await save(plain, guest, {
      sessionId: session._id,
      text: "before the end",
      clientId: "g-end",
    });
    expect(resent.status).toBe(200);
    expect(resent.body.message._id).toBe(stored._id);

    for (const user of [host, guest]) {
      const read = await history(plain, user, session._id);
      expect(read.body.messages.map((m: { text: string }) => m.text)).toEqual(["before the end"]);
    }
    g.send("mark-read", { chatId, seq: 1 });
    await settle();
    expect(events(g, "socket-error")).toHaveLength(1);
    await Promise.all([h.close(), g.close()]);
  });

  test("cancel freezes it too", async () => {
    const [host, guest] = await Promise.all([registerUser(plain.api), registerUser(plain.api)]);
    const session = await createSession(plain.api, host, { scheduledFor: fromNow(30) });
    await sessionAction(plain.api, guest, session._id, "join");
    const before = await save(plain, guest, { sessionId: session._id, text: "See you at 3" });
    expect(before.status).toBe(201);
    await sessionAction(plain.api, host, session._id, "cancel");
    const after = await save(plain, guest, { sessionId: session._id, text: "Oh no" });
    expect(after.body.code).toBe("CHAT_FROZEN");
  });
});

describe("POST /api/chat/save-message and GET /api/chat/history/:sessionId", () => {
  test("save: 201, fanned out; the same clientId again → 200 with the same message", async () => {
    const { host, guest, session, chatId } = await interview();
    const g = await plain.socket(guest.token);
    const res = await save(plain, host, {
      sessionId: session._id,
      text: "  Let's begin  ",
      clientId: "h-1",
    });
    expect(res.status).toBe(201);
    expect(res.body.message).toMatchObject({
      chat: chatId,
      seq: 1,
      text: "Let's begin",
      clientId: "h-1",
      sender: { _id: host.id, name: host.name, avatar: "" },
    });
    expect((await g.next("new-message")).data._id).toBe(res.body.message._id);
    const again = await save(plain, host, { sessionId: session._id, text: "x", clientId: "h-1" });
    expect(again.status).toBe(200);
    expect(again.body.message._id).toBe(res.body.message._id);
    await g.close();
  });

  test("history: ascending seq, before/after/limit as for any chat", async () => {
    const { host, guest, session } = await interview();
    for (let i = 1; i <= 5; i++) {
      await save(plain, i % 2 ? host : guest, { sessionId: session._id, text: `m${i}` });
    }
    const texts = (res: any) => res.body.messages.map((m: { text: string }) => m.text);
    const newest = await history(plain, guest, session._id, "?limit=2");
    expect(texts(newest)).toEqual(["m4", "m5"]);
    expect(newest.body.hasMore).toBe(true);
    expect(texts(await history(plain, guest, session._id, "?before=4&limit=2"))).toEqual([
      "m2",
      "m3",
    ]);
    const forward = await history(plain, host, session._id, "?after=3");
    expect(texts(forward)).toEqual(["m4", "m5"]);
    expect(forward.body.hasMore).toBe(false);
  });

  test("a stranger, an unknown session → 404; bad input → 400; no token → 401", async () => {
    const { host, stranger, session } = await interview();
    const notFound = { message: "Session not found", code: "NOT_FOUND" };
    expect((await history(plain, stranger, session._id)).body).toEqual(notFound);
    const strangerSave = await save(plain, stranger, { sessionId: session._id, text: "hi" });
    expect(strangerSave.status).toBe(404);
    expect(strangerSave.body).toEqual(notFound);
    const unknown = await history(plain, stranger, "0123456789abcdef01234567");
    expect(unknown.status).toBe(404);

    for (const [path, body] of [
      ["/api/chat/save-message", { sessionId: "nope", text: "hi" }],
      ["/api/chat/save-message", { sessionId: session._id, text: "   " }],
      ["/api/chat/save-message", { sessionId: session._id }],
      ["/api/chat/save-message", { sessionId: session._id, text: "x".repeat(4001) }],
    ] as const) {
      const res = await plain.api(path, { token: host.token, body });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect((await history(plain, stranger, "nope")).status).toBe(400);
    expect((await history(plain, stranger, session._id, "?limit=101")).status).toBe(400);
    expect((await plain.api(`/api/chat/history/${session._id}`)).status).toBe(401);
  });

  test("a session stored before session chats existed gets its chat when first used", async () => {
    const { host, guest, session } = await interview();
    const sessions = plain.db.connection.collection("sessions");
    const oid = (await sessions.findOne({ callId: session.callId }))!._id;
    await plain.db.connection.collection("chats").deleteMany({ pairKey: `session:${session._id}` });
    await sessions.updateOne({ _id: oid }, { $unset: { chatId: "", chatVersion: "" } });
    const legacy = await plain.api(`/api/sessions/${session._id}`, { token: host.token });
    expect(legacy.body.session.chatId).toBeNull();

    const res = await save(plain, guest, { sessionId: session._id, text: "first words" });
    expect(res.status).toBe(201);
    const read = await history(plain, host, session._id);
    expect(read.body.messages.map((m: { text: string }) => m.text)).toEqual(["first words"]);
    const stored = await plain.api(`/api/sessions/${session._id}`, { token: host.token });
    expect(stored.body.session.chatId).toBe(res.body.message.chat);
  });
});

describe("GET /api/chats and presence", () => {
  test("the chat list leaves session chats out unless asked; a bad kind → 400", async () => {
    const { host, guest, chatId } = await interview();
    const direct = await plain.api(`/api/chats/with/${guest.id}`, {
      method: "POST",
      token: host.token,
    });
    const list = await plain.api("/api/chats", { token: host.token });
    expect(list.body.chats.map((c: { _id: string }) => c._id)).toEqual([direct.body.chat._id]);
    expect(list.body.chats[0]).toMatchObject({ kind: "direct", sessionId: null });
    const explicit = await plain.api("/api/chats?kind=direct", { token: host.token });
    expect(explicit.body.chats).toHaveLength(1);
    const sessions = await plain.api("/api/chats?kind=session", { token: host.token });
    expect(sessions.body.chats.map((c: { _id: string }) => c._id)).toEqual([chatId]);
    expect((await plain.api("/api/chats?kind=channel", { token: host.token })).status).toBe(400);
  });

  test("host and participant see each other online while the session is open", async () => {
    const [host, guest] = await Promise.all([registerUser(plain.api), registerUser(plain.api)]);
    const h = await plain.socket(host.token);
    const session = await createSession(plain.api, host);
    const g = await plain.socket(guest.token);
    expect((await g.next("online-users")).data).toEqual({ userIds: [] });
    await sessionAction(plain.api, guest, session._id, "join");
    // Joining introduces them, as opening a chat does.
    expect((await h.next("user-online")).data).toEqual({ userId: guest.id });
    expect((await g.next("user-online")).data).toEqual({ userId: host.id });
    await sessionAction(plain.api, host, session._id, "end");
    const later = await plain.socket(guest.token);
    expect((await later.next("online-users")).data).toEqual({ userIds: [] });
    await Promise.all([h.close(), g.close(), later.close()]);
  });

  test("deleting the session deletes its chat and messages", async () => {
    const { host, guest, session, chatId } = await interview();
    await save(plain, guest, { sessionId: session._id, text: "bye" });
    await sessionAction(plain.api, host, session._id, "end");
    const removed = await plain.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host.token,
    });
    expect(removed.status).toBe(204);
    expect((await plain.api(`/api/messages/chat/${chatId}`, { token: host.token })).status).toBe(
      404,
    );
    const chats = plain.db.connection.collection("chats");
    const messages = plain.db.connection.collection("messages");
    const { ObjectId } = await import("mongodb");
    expect(await chats.countDocuments({ _id: new ObjectId(chatId) })).toBe(0);
    expect(await messages.countDocuments({ chat: new ObjectId(chatId) })).toBe(0);
  });
});

describe("POST /api/chat/channel", () => {
  test("without Stream → 503 STREAM_DISABLED", async () => {
    const { host, session } = await interview();
    const res = await plain.api("/api/chat/channel", {
      token: host.token,
      body: { sessionId: session._id },
    });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ message: expect.any(String), code: "STREAM_DISABLED" });
  });

  test("with Stream: the channel exists with host and participant, however often asked", async () => {
    const { host, guest, stranger, session } = await interview(streamed);
    const cid = `messaging:${session.callId}`;
    // Gone from Stream behind our back: asking makes it again.
    stream.channels.delete(cid);
    for (const user of [host, guest, host]) {
      const res = await streamed.api("/api/chat/channel", {
        token: user.token,
        body: { sessionId: session._id },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ channel: { type: "messaging", id: session.callId } });
    }
    expect([...stream.channels.get(cid)!.members].sort()).toEqual([host.id, guest.id].sort());
    expect(stream.channels.get(cid)!.created_by_id).toBe(host.id);

    const byStranger = await streamed.api("/api/chat/channel", {
      token: stranger.token,
      body: { sessionId: session._id },
    });
    expect(byStranger.status).toBe(404);
    stream.failNext("POST /api/v2/chat/channels/messaging/");
    const failing = await streamed.api("/api/chat/channel", {
      token: host.token,
      body: { sessionId: session._id },
    });
    expect(failing.status).toBe(502);
    expect(failing.body.code).toBe("UPSTREAM");

    await sessionAction(streamed.api, host, session._id, "end");
    const over = await streamed.api("/api/chat/channel", {
      token: host.token,
      body: { sessionId: session._id },
    });
    expect(over.status).toBe(400);
    expect(over.body.code).toBe("SESSION_COMPLETED");
    const invalid = await streamed.api("/api/chat/channel", {
      token: host.token,
      body: { sessionId: "nope" },
    });
    expect(invalid.status).toBe(400);
  });
});

if (!canScaleOut) console.warn("session chat scale-out test skipped: no Redis");

describe.skipIf(!canScaleOut)("two instances behind one Redis", () => {
  let cluster: TwoInstances;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    cluster = await twoInstances({ JWT_SECRET: "session-chat-test-secret-0123456789abcdef" });
    ({ a, b } = cluster);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("a leave on B reaches the sockets on A that cached the chat's membership", async () => {
    const { host, guest, session, chatId } = await interview(a);
    const hostOnA = await inChat(a, host, chatId);
    const guestOnA = await inChat(a, guest, chatId);
    const guestOnB = await inChat(b, guest, chatId);
    hostOnA.send("send-message", { chatId, text: "cached" });
    guestOnA.send("send-message", { chatId, text: "cached too" });
    for (const socket of [hostOnA, guestOnA, guestOnB]) {
      await socket.next("new-message", (m) => m.text === "cached too");
    }
    await settle();
    const typingBefore = [guestOnA, guestOnB].map((socket) => events(socket, "typing").length);

    expect((await sessionAction(b.api, guest, session._id, "leave")).status).toBe(200);
    // The control message crosses Redis; give it the time a fan-out takes.
    await settle();
    hostOnA.send("send-message", { chatId, text: "private now" });
    await hostOnA.next("message-sent");
    hostOnA.send("typing", { chatId, isTyping: true });
    guestOnA.send("send-message", { chatId, text: "sneaky" }, "s");
    expect((await guestOnA.next("socket-error")).data).toMatchObject({
      code: "NOT_FOUND",
      ref: "s",
    });
    await settle();
    for (const [i, socket] of [guestOnA, guestOnB].entries()) {
      expect(events(socket, "new-message").map((f) => f.data.text)).toEqual([
        "cached",
        "cached too",
      ]);
      expect(events(socket, "typing")).toHaveLength(typingBefore[i]!);
    }
    await Promise.all([hostOnA.close(), guestOnA.close(), guestOnB.close()]);
  });
});
