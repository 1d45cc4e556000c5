import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Types } from "mongoose";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  answer,
  connected,
  createGroup,
  events,
  expectError,
  expectRefused,
  idsOf,
  inChat,
  post,
  socketsOf,
  unknownId,
} from "./support/chats.ts";
import { canScaleOut, type TwoInstances, twoInstances } from "./support/cluster.ts";
import { createSession, ISO } from "./support/sessions.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import type { Frame, TestSocket } from "./support/ws.ts";

/**
 * Group chats: a name, admins, and 2–100 members who come and go. A member who leaves or is
 * removed loses the chat at once: its REST routes answer 404 and their sockets hear nothing more.
 */
let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

/** Fresh accounts with these names, in the same order. */
function people<const N extends readonly string[]>(
  ...names: N
): Promise<{ -readonly [K in keyof N]: TestUser }> {
  return Promise.all(names.map((name) => registerUser(server.api, name))) as Promise<any>;
}

/**
 * Accounts that exist but never sign in, written straight to the store: registering 99 through
 * the API (an argon2id hash each) would only slow the test down.
 */
async function quietUsers(n: number): Promise<string[]> {
  const now = new Date();
  const docs = Array.from({ length: n }, (_, i) => ({
    _id: new Types.ObjectId(),
    name: `Quiet ${i}`,
    email: `quiet.${i}.${crypto.randomUUID().slice(0, 8)}@example.com`,
    avatar: "",
    role: "candidate",
    createdAt: now,
    updatedAt: now,
  }));
  await server.db.connection.collection("users").insertMany(docs);
  return docs.map((d) => d._id.toHexString());
}

const getChat = (user: TestUser, chatId: string) =>
  server.api(`/api/chats/${chatId}`, { token: user.token });
const rename = (user: TestUser, chatId: string, name: string) =>
  server.api(`/api/chats/${chatId}`, { method: "PATCH", token: user.token, body: { name } });
const addMember = (user: TestUser, chatId: string, userId: string) =>
  server.api(`/api/chats/${chatId}/members`, { token: user.token, body: { userId } });
const removeMember = (user: TestUser, chatId: string, userId: string) =>
  server.api(`/api/chats/${chatId}/members/${userId}`, { method: "DELETE", token: user.token });

/** Whether a frame concerns `chatId`: a message of it, a change, typing, a read mark, the chat itself. */
const about =
  (chatId: string) =>
  ({ data }: Frame): boolean =>
    data?.chat === chatId || data?.chatId === chatId || data?.chat?._id === chatId;

/** The `chat-updated` this socket heard for `chatId` in which `check` holds. */
const updated = (socket: TestSocket, chatId: string, check: (chat: any) => boolean = () => true) =>
  socket.next("chat-updated", (d) => d.chat._id === chatId && check(d.chat));

describe("creating a group", () => {
  test("201: the caller its one admin, the name trimmed, repeats and self dropped, and chat-updated to every member", async () => {
    const [alice, bob, carol] = await people("Alice", "Bob", "Carol");
    const sockets = await socketsOf(server, [alice, bob, carol]);

    const res = await server.api("/api/chats", {
      token: alice.token,
      body: { name: "  Team  ", participantIds: [bob.id, carol.id, bob.id, alice.id] },
    });

    expect(res.status).toBe(201);
    const { chat } = res.body;
    expect(chat).toMatchObject({
      kind: "group",
      name: "Team",
      admins: [alice.id],
      sessionId: null,
      lastMessage: null,
      lastSeq: 0,
      unreadCount: 0,
      version: expect.any(Number),
      createdAt: ISO,
      updatedAt: ISO,
    });
    expect(idsOf(chat.participants)).toEqual(idsOf([alice, bob, carol]));
    expect(JSON.stringify(chat)).not.toContain("password");
    for (const socket of sockets) {
      const heard = (await updated(socket, chat._id)).data.chat;
      expect(heard).toMatchObject({ kind: "group", name: "Team", admins: [alice.id] });
      expect(heard.unreadCount).toBe(0);
      expect(idsOf(heard.participants)).toEqual(idsOf([alice, bob, carol]));
    }
  });

  test("400 for no one else, a bad name, over 99 ids or a malformed one; 404 for an unknown user; 401 without a token; nothing is made", async () => {
    const [alice, bob] = await people("Alice", "Bob");
    const invalid = [
      { name: "Alone", participantIds: [] },
      { name: "Alone", participantIds: [alice.id, alice.id] },
      { name: "   ", participantIds: [bob.id] },
      { name: "x".repeat(81), participantIds: [bob.id] },
      { participantIds: [bob.id] },
      { name: "Crowd", participantIds: Array.from({ length: 100 }, unknownId) },
      { name: "Typo", participantIds: ["nope"] },
    ];
    for (const body of invalid) {
      const res = await server.api("/api/chats", { token: alice.token, body });
      expectError(res, 400, "VALIDATION");
    }
    const unknown = await server.api("/api/chats", {
      token: alice.token,
      body: { name: "Ghosts", participantIds: [bob.id, unknownId()] },
    });
    expectError(unknown, 404, "NOT_FOUND");
    const anonymous = await server.api("/api/chats", {
      body: { name: "Nobody", participantIds: [bob.id] },
    });
    expect(anonymous.status).toBe(401);

    for (const user of [alice, bob]) {
      expect((await server.api("/api/chats", { token: user.token })).body.chats).toEqual([]);
    }
    // The longest name allowed, and one other member, is a group.
    const longest = await server.api("/api/chats", {
      token: alice.token,
      body: { name: "x".repeat(80), participantIds: [bob.id] },
    });
    expect(longest.status).toBe(201);
    expect(longest.body.chat.participants).toHaveLength(2);
  });

  test("a group holds 100: the caller and 99 others, and a 101st is refused with 409 GROUP_FULL", async () => {
    const [owner, late] = await people("Owner", "Late");
    const others = await quietUsers(99);
    const full = await server.api("/api/chats", {
      token: owner.token,
      body: { name: "Everyone", participantIds: others },
    });
    expect(full.status).toBe(201);
    const chatId = full.body.chat._id;
    expect(full.body.chat.participants).toHaveLength(100);

    expectError(await addMember(owner, chatId, late.id), 409, "GROUP_FULL");
    expect((await getChat(owner, chatId)).body.chat.participants).toHaveLength(100);
    expectError(await getChat(late, chatId), 404, "NOT_FOUND");

    // A seat that frees up can be taken.
    expect((await removeMember(owner, chatId, others[0]!)).status).toBe(204);
    const added = await addMember(owner, chatId, late.id);
    expect(added.status).toBe(200);
    expect(added.body.chat.participants).toHaveLength(100);
  });
});

describe("reading groups", () => {
  test("GET /api/chats/:chatId: the chat for its members, 404 for anyone else", async () => {
    const [alice, bob, stranger] = await people("Alice", "Bob", "Stranger");
    const group = await createGroup(server.api, alice, [bob], "Reading");
    const direct = await chatBetween(server.api, alice, bob);

    const asBob = await getChat(bob, group._id);
    expect(asBob.status).toBe(200);
    expect(asBob.body.chat).toMatchObject({ _id: group._id, kind: "group", name: "Reading" });
    expect(asBob.body.chat.admins).toEqual([alice.id]);
    const directChat = (await getChat(alice, direct)).body.chat;
    expect(directChat).toMatchObject({ _id: direct, kind: "direct", name: null, admins: [] });

    const hidden = await getChat(stranger, group._id);
    expectError(hidden, 404, "NOT_FOUND");
    const missing = await getChat(stranger, unknownId());
    expectError(missing, 404, "NOT_FOUND");
    // Existence is not leaked.
    expect(missing.body.message).toBe(hidden.body.message);
  });

  test("GET /api/chats: direct and group chats, most recent activity first, never session chats", async () => {
    const [alice, bob, carol] = await people("Alice", "Bob", "Carol");
    const direct = await chatBetween(server.api, alice, bob);
    const group = (await createGroup(server.api, alice, [bob, carol]))._id;
    const session = await createSession(server.api, alice);
    const list = async () =>
      (await server.api("/api/chats", { token: alice.token })).body.chats.map(
        (c: any) => `${c.kind}:${c._id}`,
      );

    await post(server.api, bob, direct, "direct first");
    await post(server.api, carol, group, "then the group");
    expect(await list()).toEqual([`group:${group}`, `direct:${direct}`]);
    await post(server.api, alice, direct, "the direct chat again");
    expect(await list()).toEqual([`direct:${direct}`, `group:${group}`]);
    expect(session.chatId).toMatch(/^[0-9a-f]{24}$/);
    expect((await list()).join()).not.toContain(session.chatId);
  });
});

describe("renaming", () => {
  test("the admin renames: 200 and chat-updated to the members; a member 403, a stranger 404, a direct chat 400 NOT_A_GROUP", async () => {
    const [alice, bob, stranger] = await people("Alice", "Bob", "Stranger");
    const group = (await createGroup(server.api, alice, [bob], "Before"))._id;
    const direct = await chatBetween(server.api, alice, bob);
    const sockets = await socketsOf(server, [alice, bob]);

    const res = await rename(alice, group, "  After  ");
    expect(res.status).toBe(200);
    expect(res.body.chat).toMatchObject({ _id: group, name: "After" });
    for (const socket of sockets) await updated(socket, group, (chat) => chat.name === "After");

    expectError(await rename(bob, group, "Bob's"), 403, "FORBIDDEN");
    expectError(await rename(stranger, group, "Mine"), 404, "NOT_FOUND");
    expectError(await rename(alice, direct, "Us"), 400, "NOT_A_GROUP");
    expectError(await rename(alice, group, "   "), 400, "VALIDATION");
    expectError(await rename(alice, group, "x".repeat(81)), 400, "VALIDATION");
    expect((await getChat(bob, group)).body.chat.name).toBe("After");
  });
});

describe("adding members", () => {
  test("the admin adds one: everyone, the newcomer too, hears chat-updated; the newcomer reads the whole history and sees who is online", async () => {
    const [alice, bob, dave] = await people("Alice", "Bob", "Dave");
    const group = (await createGroup(server.api, alice, [bob]))._id;
    await post(server.api, alice, group, "before Dave 1");
    await post(server.api, bob, group, "before Dave 2");
    const [aliceSocket, bobSocket, daveSocket] = await socketsOf(server, [alice, bob, dave]);

    const res = await addMember(alice, group, dave.id);

    expect(res.status).toBe(200);
    expect(idsOf(res.body.chat.participants)).toEqual(idsOf([alice, bob, dave]));
    for (const socket of [aliceSocket, bobSocket, daveSocket]) {
      const heard = (await updated(socket, group)).data.chat;
      expect(idsOf(heard.participants)).toEqual(idsOf([alice, bob, dave]));
    }
    const history = await server.api(`/api/messages/chat/${group}`, { token: dave.token });
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m: any) => m.text)).toEqual([
      "before Dave 1",
      "before Dave 2",
    ]);
    await daveSocket.next("user-online", (d) => d.userId === alice.id);
    await daveSocket.next("user-online", (d) => d.userId === bob.id);
    // And the chat is Dave's to use, over the socket too.
    expect((await answer(daveSocket, "join-chat", group)).event).toBe("chat-joined");
    expect((await post(server.api, dave, group, "hi all")).seq).toBe(3);
  });

  test("a member 403, a stranger 404, an unknown user 404, a direct chat 400 NOT_A_GROUP; adding a member again changes nothing", async () => {
    const [alice, bob, carol, stranger] = await people("Alice", "Bob", "Carol", "Stranger");
    const group = (await createGroup(server.api, alice, [bob]))._id;
    const direct = await chatBetween(server.api, alice, carol);
    const before = (await getChat(alice, group)).body.chat;

    expectError(await addMember(bob, group, carol.id), 403, "FORBIDDEN");
    expectError(await addMember(stranger, group, carol.id), 404, "NOT_FOUND");
    expectError(await addMember(alice, group, unknownId()), 404, "NOT_FOUND");
    expectError(await addMember(alice, group, "nope"), 400, "VALIDATION");
    expectError(await addMember(alice, direct, bob.id), 400, "NOT_A_GROUP");
    const again = await addMember(alice, group, bob.id);
    expect(again.status).toBe(200);

    const after = (await getChat(alice, group)).body.chat;
    expect(idsOf(after.participants)).toEqual(idsOf([alice, bob]));
    expect(after.admins).toEqual([alice.id]);
    expect(after.version).toBe(before.version);
    expectError(await getChat(carol, group), 404, "NOT_FOUND");
    expect(idsOf((await getChat(carol, direct)).body.chat.participants)).toEqual(
      idsOf([alice, carol]),
    );
  });
});

describe("removing members and leaving", () => {
  test("the admin removes a member: all hear chat-updated without them, and from then on the chat is closed to them", async () => {
    const [alice, bob, carol] = await people("Alice", "Bob", "Carol");
    const group = (await createGroup(server.api, alice, [bob, carol]))._id;
    const bobAndCarol = await chatBetween(server.api, bob, carol);
    const before = await post(server.api, alice, group, "before");
    const [aliceSocket, bobSocket, carolSocket] = await socketsOf(
      server,
      [alice, bob, carol],
      group,
    );

    expect((await removeMember(alice, group, bob.id)).status).toBe(204);

    const withoutBob = (chat: any) => !idsOf(chat.participants).includes(bob.id);
    const heard = await Promise.all(
      [aliceSocket, bobSocket, carolSocket].map((socket) => updated(socket, group, withoutBob)),
    );
    for (const frame of heard) {
      expect(idsOf(frame.data.chat.participants)).toEqual(idsOf([alice, carol]));
    }
    const removedAt = bobSocket.frames.indexOf(heard[1]!);
    expectError(await getChat(bob, group), 404, "NOT_FOUND");
    const history = await server.api(`/api/messages/chat/${group}`, { token: bob.token });
    expectError(history, 404, "NOT_FOUND");
    const send = await server.api(`/api/messages/chat/${group}`, {
      token: bob.token,
      body: { text: "still here?" },
    });
    expectError(send, 404, "NOT_FOUND");
    const chats = (await server.api("/api/chats", { token: bob.token })).body.chats;
    expect(chats.map((c: any) => c._id)).toEqual([bobAndCarol]);
    expectRefused(await answer(bobSocket, "join-chat", group), "NOT_FOUND");
    const sent = await answer(bobSocket, "send-message", { chatId: group, text: "hello?" });
    expectRefused(sent, "NOT_FOUND");

    // The chat carries on without Bob: a message, typing, an edit.
    await post(server.api, alice, group, "after");
    carolSocket.send("typing", { chatId: group, isTyping: true });
    const edited = await server.api(`/api/messages/${before._id}`, {
      method: "PATCH",
      token: alice.token,
      body: { text: "before, edited" },
    });
    expect(edited.status).toBe(200);
    await carolSocket.next("new-message", (m) => m.text === "after");
    await aliceSocket.next("typing", (d) => d.userId === carol.id && d.isTyping);
    await carolSocket.next("message-updated", (m) => m._id === before._id);
    // Probe: sent to Bob after all of that, so whatever of it reached him has arrived.
    await post(server.api, carol, bobAndCarol, "probe");
    await bobSocket.next("new-message", (m) => m.text === "probe");

    expect(events(bobSocket, "new-message", (m) => m.chat === group)).toEqual([]);
    expect(events(bobSocket, "message-updated")).toEqual([]);
    expect(bobSocket.frames.slice(removedAt + 1).filter(about(group))).toEqual([]);
  });

  test("any member may leave; only the admin removes others: a member 403, a stranger 404, a non-member 404, a direct chat 400 NOT_A_GROUP", async () => {
    const [alice, bob, carol, stranger] = await people("Alice", "Bob", "Carol", "Stranger");
    const group = (await createGroup(server.api, alice, [bob, carol]))._id;
    const direct = await chatBetween(server.api, alice, bob);
    const aliceSocket = await connected(server, alice);

    expectError(await removeMember(bob, group, carol.id), 403, "FORBIDDEN");
    expectError(await removeMember(stranger, group, carol.id), 404, "NOT_FOUND");
    expectError(await removeMember(alice, group, stranger.id), 404, "NOT_FOUND");
    expectError(await removeMember(alice, direct, bob.id), 400, "NOT_A_GROUP");
    expect(idsOf((await getChat(alice, group)).body.chat.participants)).toEqual(
      idsOf([alice, bob, carol]),
    );

    expect((await removeMember(bob, group, bob.id)).status).toBe(204);
    await updated(aliceSocket, group, (chat) => chat.participants.length === 2);
    expectError(await getChat(bob, group), 404, "NOT_FOUND");
    const after = (await getChat(alice, group)).body.chat;
    expect(idsOf(after.participants)).toEqual(idsOf([alice, carol]));
    expect(after.admins).toEqual([alice.id]);
    // Gone is gone: leaving twice finds no member.
    expectError(await removeMember(bob, group, bob.id), 404, "NOT_FOUND");
  });

  test("when the last admin leaves, the member who joined earliest becomes admin", async () => {
    const [alice, bob, carol, dave] = await people("Alice", "Bob", "Carol", "Dave");
    // Carol joins with the group, then Bob, then Dave.
    const group = (await createGroup(server.api, alice, [carol]))._id;
    expect((await addMember(alice, group, bob.id)).status).toBe(200);
    expect((await addMember(alice, group, dave.id)).status).toBe(200);
    const carolSocket = await connected(server, carol);

    expect((await removeMember(alice, group, alice.id)).status).toBe(204);

    const heard = await updated(carolSocket, group, (chat) => chat.participants.length === 3);
    expect(heard.data.chat.admins).toEqual([carol.id]);
    expect((await getChat(dave, group)).body.chat.admins).toEqual([carol.id]);
    expect((await rename(carol, group, "Carol's now")).status).toBe(200);
    expectError(await rename(bob, group, "Bob's"), 403, "FORBIDDEN");

    expect((await removeMember(carol, group, carol.id)).status).toBe(204);
    const chat = (await getChat(bob, group)).body.chat;
    expect(chat.admins).toEqual([bob.id]);
    expect(idsOf(chat.participants)).toEqual(idsOf([bob, dave]));
  });
});

describe("typing, read marks and unread counts in a group", () => {
  async function groupOfFour() {
    const [alice, bob, carol, dave] = await people("Alice", "Bob", "Carol", "Dave");
    const chatId = (await createGroup(server.api, alice, [bob, carol, dave]))._id;
    // Dave is online but has not joined the chat.
    const [aliceSocket, bobSocket, carolSocket] = await socketsOf(
      server,
      [alice, bob, carol],
      chatId,
    );
    const daveSocket = await connected(server, dave);
    return { alice, bob, carol, dave, chatId, aliceSocket, bobSocket, carolSocket, daveSocket };
  }

  test("typing reaches the other members who joined the chat, never the typist", async () => {
    const { alice, bob, chatId, aliceSocket, bobSocket, carolSocket, daveSocket } =
      await groupOfFour();

    aliceSocket.send("typing", { chatId, isTyping: true });

    for (const socket of [bobSocket, carolSocket]) {
      expect((await socket.next("typing")).data).toEqual({
        userId: alice.id,
        chatId,
        isTyping: true,
      });
    }
    // Probe: a message every member hears, sent after the typing.
    await post(server.api, bob, chatId, "probe");
    for (const socket of [aliceSocket, daveSocket]) {
      await socket.next("new-message", (m) => m.text === "probe");
    }
    expect(events(aliceSocket, "typing", (d) => d.userId === alice.id)).toEqual([]);
    expect(events(daveSocket, "typing")).toEqual([]);
  });

  test("mark-read: chat-read goes to the other members who joined the chat", async () => {
    const { alice, bob, carol, chatId, aliceSocket, bobSocket, carolSocket, daveSocket } =
      await groupOfFour();
    await post(server.api, bob, chatId, "one");
    await post(server.api, bob, chatId, "two");

    aliceSocket.send("mark-read", { chatId, seq: 2 });

    for (const socket of [bobSocket, carolSocket]) {
      expect((await socket.next("chat-read")).data).toEqual({ chatId, userId: alice.id, seq: 2 });
    }
    await post(server.api, carol, chatId, "probe");
    for (const socket of [aliceSocket, daveSocket]) {
      await socket.next("new-message", (m) => m.text === "probe");
    }
    expect(events(aliceSocket, "chat-read")).toEqual([]);
    expect(events(daveSocket, "chat-read")).toEqual([]);
    expect((await getChat(alice, chatId)).body.chat.unreadCount).toBe(1);
  });

  test("unreadCount counts what came after the caller's read mark; sending moves the sender's own mark", async () => {
    const [alice, bob, carol] = await people("Alice", "Bob", "Carol");
    const chatId = (await createGroup(server.api, alice, [bob, carol]))._id;
    const unread = async (user: TestUser) => (await getChat(user, chatId)).body.chat.unreadCount;

    await post(server.api, alice, chatId, "a1");
    await post(server.api, alice, chatId, "a2");
    await post(server.api, bob, chatId, "b1");

    expect([await unread(alice), await unread(bob), await unread(carol)]).toEqual([1, 0, 3]);
    const listed = (await server.api("/api/chats", { token: carol.token })).body.chats;
    expect(listed.find((c: any) => c._id === chatId).unreadCount).toBe(3);

    const read = await server.api(`/api/chats/${chatId}/read`, {
      token: carol.token,
      body: { seq: 2 },
    });
    expect(read.status).toBe(204);
    expect(await unread(carol)).toBe(1);
    await post(server.api, carol, chatId, "c1");
    expect([await unread(alice), await unread(bob), await unread(carol)]).toEqual([2, 1, 0]);
  });
});

describe("direct chats", () => {
  test("still exactly one per pair (kind direct, no name, no admins), apart from any group the pair shares", async () => {
    const [alice, bob] = await people("Alice", "Bob");
    const group = (await createGroup(server.api, alice, [bob]))._id;

    const first = await server.api(`/api/chats/with/${bob.id}`, {
      method: "POST",
      token: alice.token,
    });
    expect(first.status).toBe(201);
    expect(first.body.chat).toMatchObject({
      kind: "direct",
      name: null,
      admins: [],
      sessionId: null,
    });
    expect(first.body.chat._id).not.toBe(group);
    const again = await server.api(`/api/chats/with/${alice.id}`, {
      method: "POST",
      token: bob.token,
    });
    expect(again.status).toBe(200);
    expect(again.body.chat._id).toBe(first.body.chat._id);

    const chats = (await server.api("/api/chats", { token: bob.token })).body.chats;
    expect(chats.map((c: any) => c.kind).sort()).toEqual(["direct", "group"]);
  });
});

if (!canScaleOut) console.warn("group scale-out test skipped: no Redis on 6379, no redis-server");

describe.skipIf(!canScaleOut)("two instances behind one Redis", () => {
  let cluster: TwoInstances;

  beforeAll(async () => {
    cluster = await twoInstances({ JWT_SECRET: "groups-test-secret-0123456789abcdefghij" });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("a removed member is cut off on both instances", async () => {
    const { a, b } = cluster;
    const [alice, bob, carol] = await Promise.all([
      registerUser(a.api, "Alice"),
      registerUser(a.api, "Bob"),
      registerUser(a.api, "Carol"),
    ]);
    const group = (await createGroup(a.api, alice, [bob, carol]))._id;
    const bobAndCarol = await chatBetween(b.api, bob, carol);
    const aliceOnA = await inChat(a, alice, group);
    const bobOnB = await inChat(b, bob, group);
    const carolOnB = await inChat(b, carol, group);
    // Given Bob follows the chat on B: he hears a message from A and typing on B.
    aliceOnA.send("send-message", { chatId: group, text: "before" });
    await bobOnB.next("new-message", (m) => m.text === "before");
    carolOnB.send("typing", { chatId: group, isTyping: true });
    await bobOnB.next("typing", (d) => d.userId === carol.id && d.isTyping);

    // When Alice removes him through A,
    const removed = await a.api(`/api/chats/${group}/members/${bob.id}`, {
      method: "DELETE",
      token: alice.token,
    });
    expect(removed.status).toBe(204);
    const removal = await updated(bobOnB, group, (c) => !idsOf(c.participants).includes(bob.id));
    const removedAt = bobOnB.frames.indexOf(removal);

    // and the chat carries on: Alice sends on A, Carol types on B,
    aliceOnA.send("send-message", { chatId: group, text: "after" });
    await carolOnB.next("new-message", (m) => m.text === "after");
    carolOnB.send("typing", { chatId: group, isTyping: false });
    await aliceOnA.next("typing", (d) => d.userId === carol.id && !d.isTyping);
    // then a probe that reaches Bob on B after all of that.
    carolOnB.send("send-message", { chatId: bobAndCarol, text: "probe" });
    await bobOnB.next("new-message", (m) => m.text === "probe");

    // Then Bob's socket heard nothing of the chat after the removal, and may not send to it.
    expect(bobOnB.frames.slice(removedAt + 1).filter(about(group))).toEqual([]);
    expect(events(bobOnB, "new-message", (m) => m.chat === group).map((f) => f.data.text)).toEqual([
      "before",
    ]);
    const refused = await answer(bobOnB, "send-message", { chatId: group, text: "hello?" });
    expectRefused(refused, "NOT_FOUND");
    await Promise.all([aliceOnA.close(), bobOnB.close(), carolOnB.close()]);
  });
});
