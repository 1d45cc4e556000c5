import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  answer,
  connected,
  createGroup,
  events,
  expectAscending,
  expectError,
  expectRefused,
  inChat,
  post,
  reactionsOf,
  roundTrip,
  socketsOf,
  unknownId,
} from "./support/chats.ts";
import type { ApiResponse } from "./support/http.ts";
import { ISO } from "./support/sessions.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import type { Frame, TestSocket } from "./support/ws.ts";

/**
 * Replies, edits, deletions and reactions. Each change to a chat gives the changed message a
 * `version` above every earlier one in that chat, which is how a client that was away learns of
 * them: `GET /api/chats/:chatId/changes?since=` and `join-chat { since }`.
 */
let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

interface Group {
  alice: TestUser;
  bob: TestUser;
  carol: TestUser;
  stranger: TestUser;
  chatId: string;
}

/** A fresh group of Alice (its admin), Bob and Carol, and a stranger to it. */
async function group(): Promise<Group> {
  const [alice, bob, carol, stranger] = await Promise.all([
    registerUser(server.api, "Alice"),
    registerUser(server.api, "Bob"),
    registerUser(server.api, "Carol"),
    registerUser(server.api, "Stranger"),
  ]);
  const chat = await createGroup(server.api, alice, [bob, carol], "Changes");
  return { alice, bob, carol, stranger, chatId: chat._id };
}

const edit = (user: TestUser, messageId: string, text: string) =>
  server.api(`/api/messages/${messageId}`, { method: "PATCH", token: user.token, body: { text } });
const remove = (user: TestUser, messageId: string) =>
  server.api(`/api/messages/${messageId}`, { method: "DELETE", token: user.token });
const react = (user: TestUser, messageId: string, emoji: string, on = true) =>
  server.api(`/api/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`, {
    method: on ? "PUT" : "DELETE",
    token: user.token,
  });

async function history(user: TestUser, chatId: string): Promise<any[]> {
  const res = await server.api(`/api/messages/chat/${chatId}?limit=100`, { token: user.token });
  expect(res.status).toBe(200);
  return res.body.messages;
}

async function chatAs(user: TestUser, chatId: string): Promise<any> {
  return (await server.api(`/api/chats/${chatId}`, { token: user.token })).body.chat;
}

const changes = (user: TestUser, chatId: string, query: string) =>
  server.api(`/api/chats/${chatId}/changes?${query}`, { token: user.token });

/** A reaction as `reactionsOf` lists it: the emoji and its users' ids, sorted. */
const by = (emoji: string, ...users: TestUser[]) => ({
  emoji,
  userIds: users.map((u) => u.id).sort(),
});

/** What a change frame is about, and its version: a Message, or `message-deleted`'s data. */
const idOf = (f: Frame) => (f.event === "message-deleted" ? f.data.messageId : f.data._id);
const versionOf = (f: Frame) => f.data.version as number;

describe("replies", () => {
  test("a reply over REST quotes the original: its id, seq, sender and first 200 characters", async () => {
    const { alice, bob, chatId } = await group();
    const long = `${"a".repeat(150)}${"b".repeat(100)}`;
    const original = await post(server.api, alice, chatId, long);
    expect(original).toMatchObject({
      replyTo: null,
      editedAt: null,
      deleted: false,
      reactions: [],
    });

    const reply = await post(server.api, bob, chatId, "tl;dr", { replyTo: original._id });

    const quote = {
      _id: original._id,
      seq: 1,
      text: `${"a".repeat(150)}${"b".repeat(50)}`,
      sender: { _id: alice.id, name: "Alice", avatar: "" },
    };
    expect(reply).toMatchObject({ seq: 2, text: "tl;dr", replyTo: quote });
    const [first, second] = await history(alice, chatId);
    expect(first.text).toBe(long);
    expect(second.replyTo).toEqual(quote);
  });

  test("a reply over the socket: message-sent and every member's new-message carry the quote", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const original = await post(server.api, alice, chatId, "Who's in?");

    sockets[1].send("send-message", { chatId, text: "Me", clientId: "r-1", replyTo: original._id });

    const sent = (await sockets[1].next("message-sent")).data.message;
    expect(sent.replyTo).toMatchObject({ _id: original._id, seq: 1, text: "Who's in?" });
    expect(sent.replyTo.sender._id).toBe(alice.id);
    for (const socket of sockets) {
      const heard = await socket.next("new-message", (m) => m._id === sent._id);
      expect(heard.data.replyTo).toEqual(sent.replyTo);
    }
  });

  test("a replyTo that is not a message of this chat → VALIDATION on replyTo, nothing stored, and the server carries on", async () => {
    const { alice, bob, chatId } = await group();
    const elsewhere = await chatBetween(server.api, alice, bob);
    const other = await post(server.api, alice, elsewhere, "in the direct chat");
    const here = await post(server.api, alice, chatId, "in the group");
    const socket = await connected(server, alice);

    for (const replyTo of [other._id, unknownId(), "nope"]) {
      const res = await server.api(`/api/messages/chat/${chatId}`, {
        token: alice.token,
        body: { text: "a reply", replyTo },
      });
      expectError(res, 400, "VALIDATION");
      expect(res.body.errors[0].path).toBe("replyTo");
    }
    for (const replyTo of [other._id, unknownId()]) {
      const refused = await answer(socket, "send-message", { chatId, text: "a reply", replyTo });
      expectRefused(refused, "VALIDATION");
      expect(refused.data.errors[0].path).toBe("replyTo");
    }
    expectRefused(
      await answer(socket, "send-message", { chatId, text: "a reply", replyTo: "nope" }),
      "VALIDATION",
    );

    expect((await chatAs(alice, chatId)).lastSeq).toBe(1);
    expect(await history(alice, chatId)).toHaveLength(1);
    expect(events(socket, "message-sent")).toEqual([]);
    expect((await server.api("/health")).status).toBe(200);
    const fine = await post(server.api, alice, chatId, "a proper reply", { replyTo: here._id });
    expect(fine).toMatchObject({ seq: 2, replyTo: { _id: here._id } });
  });

  test("deleting the original empties the quote in its replies", async () => {
    const { alice, bob, chatId } = await group();
    const original = await post(server.api, alice, chatId, "I said a silly thing");
    const reply = await post(server.api, bob, chatId, "You did", { replyTo: original._id });

    expect((await remove(alice, original._id)).status).toBe(204);

    const stored = (await history(bob, chatId)).find((m) => m._id === reply._id);
    expect(stored.replyTo).toEqual({ ...reply.replyTo, text: "" });
  });
});

describe("editing", () => {
  test("the sender edits over REST: text trimmed, editedAt set, a higher version, and message-updated to every member", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const message = await post(server.api, bob, chatId, "teh plan");

    const res = await edit(bob, message._id, "  the plan  ");

    expect(res.status).toBe(200);
    const edited = res.body.message;
    expect(edited).toMatchObject({
      _id: message._id,
      seq: message.seq,
      text: "the plan",
      editedAt: ISO,
      deleted: false,
      createdAt: message.createdAt,
    });
    expect(edited.version).toBeGreaterThan(message.version);
    for (const socket of sockets) {
      const heard = await socket.next("message-updated", (m) => m._id === message._id);
      expect(heard.data).toEqual(edited);
    }
    expect((await history(carol, chatId))[0]).toMatchObject({
      text: "the plan",
      editedAt: edited.editedAt,
      version: edited.version,
    });
  });

  test("over the socket: change-accepted with the ref and the new version, and message-updated to every member", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const message = await post(server.api, bob, chatId, "first draft");

    const accepted = await answer(sockets[1], "edit-message", {
      messageId: message._id,
      text: " second draft ",
    });

    expect(accepted.event).toBe("change-accepted");
    expect(accepted.data).toEqual({ messageId: message._id, version: expect.any(Number) });
    expect(accepted.data.version).toBeGreaterThan(message.version);
    for (const socket of sockets) {
      const heard = await socket.next("message-updated", (m) => m._id === message._id);
      expect(heard.data).toMatchObject({
        text: "second draft",
        editedAt: ISO,
        version: accepted.data.version,
      });
    }
  });

  test("only the sender edits, over REST and the socket alike: other members 403 (the admin too), a stranger 404, bad input 400, a deleted message 409", async () => {
    const { alice, bob, carol, stranger, chatId } = await group();
    const users = [alice, bob, carol, stranger];
    const sockets = await socketsOf(server, users);
    const socketOf = (user: TestUser) => sockets[users.indexOf(user)]!;
    const bobs = await post(server.api, bob, chatId, "Bob's words");
    const direct = await chatBetween(server.api, alice, bob);
    const alices = await post(server.api, alice, direct, "Alice's words");
    const refusals: [TestUser, string, string, number, string][] = [
      [carol, bobs._id, "Carol's words", 403, "FORBIDDEN"],
      [alice, bobs._id, "the admin's words", 403, "FORBIDDEN"],
      [bob, alices._id, "the other side's words", 403, "FORBIDDEN"],
      [stranger, bobs._id, "mine", 404, "NOT_FOUND"],
      [bob, unknownId(), "lost", 404, "NOT_FOUND"],
      [bob, "nope", "lost", 400, "VALIDATION"],
      [bob, bobs._id, "   ", 400, "VALIDATION"],
      [bob, bobs._id, "x".repeat(4001), 400, "VALIDATION"],
    ];

    for (const [user, messageId, text, status, code] of refusals) {
      expectError(await edit(user, messageId, text), status, code);
      expectRefused(await answer(socketOf(user), "edit-message", { messageId, text }), code);
    }

    expect((await history(bob, chatId))[0]).toMatchObject({
      text: "Bob's words",
      editedAt: null,
      version: bobs.version,
    });
    expect((await history(bob, direct))[0]).toMatchObject({
      text: "Alice's words",
      editedAt: null,
    });
    expect((await remove(bob, bobs._id)).status).toBe(204);
    expectError(await edit(bob, bobs._id, "too late"), 409, "MESSAGE_DELETED");
    const late = await answer(socketOf(bob), "edit-message", { messageId: bobs._id, text: "late" });
    expectRefused(late, "MESSAGE_DELETED");
    // Every refusal left its socket open.
    for (const socket of sockets) await roundTrip(socket);
  });
});

describe("deleting", () => {
  test("the sender deletes over REST: 204, a tombstone that keeps its seq in history, and message-deleted to every member", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const first = await post(server.api, alice, chatId, "first");
    const doomed = await post(server.api, bob, chatId, "regrettable", { replyTo: first._id });
    expect((await react(carol, doomed._id, "😬")).status).toBe(200);
    const last = await post(server.api, carol, chatId, "last");

    expect((await remove(bob, doomed._id)).status).toBe(204);

    const heard = [];
    for (const socket of sockets) {
      heard.push(await socket.next("message-deleted", (d) => d.messageId === doomed._id));
    }
    const { version } = heard[0]!.data;
    for (const frame of heard) {
      expect(frame.data).toEqual({ chatId, messageId: doomed._id, seq: 2, version });
    }
    expect(version).toBeGreaterThan(last.version);
    const messages = await history(carol, chatId);
    expect(messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(messages[1]).toMatchObject({
      _id: doomed._id,
      seq: 2,
      text: "",
      deleted: true,
      reactions: [],
      replyTo: null,
      sender: { _id: bob.id },
      version,
    });
    expect((await chatAs(alice, chatId)).lastSeq).toBe(3);
  });

  test("over the socket: change-accepted with the ref, and message-deleted to every member", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const doomed = await post(server.api, bob, chatId, "gone soon");

    const accepted = await answer(sockets[1], "delete-message", { messageId: doomed._id });

    expect(accepted.event).toBe("change-accepted");
    expect(accepted.data).toEqual({ messageId: doomed._id, version: expect.any(Number) });
    expect(accepted.data.version).toBeGreaterThan(doomed.version);
    for (const socket of sockets) {
      const heard = await socket.next("message-deleted", (d) => d.messageId === doomed._id);
      expect(heard.data).toEqual({
        chatId,
        messageId: doomed._id,
        seq: 1,
        version: accepted.data.version,
      });
    }
    expect((await history(alice, chatId))[0]).toMatchObject({ text: "", deleted: true });
  });

  test("the sender or the group's admin deletes, over REST and the socket alike; another member 403, the other side of a direct chat 403, a stranger 404", async () => {
    const { alice, bob, carol, stranger, chatId } = await group();
    const users = [alice, bob, carol, stranger];
    const sockets = await socketsOf(server, users);
    const socketOf = (user: TestUser) => sockets[users.indexOf(user)]!;
    const bobs = await post(server.api, bob, chatId, "Bob's");
    const carols = await post(server.api, carol, chatId, "Carol's");
    const direct = await chatBetween(server.api, alice, bob);
    const alices = await post(server.api, alice, direct, "in private");
    const refusals: [TestUser, string, number, string][] = [
      [carol, bobs._id, 403, "FORBIDDEN"],
      [bob, alices._id, 403, "FORBIDDEN"],
      [stranger, bobs._id, 404, "NOT_FOUND"],
      [bob, unknownId(), 404, "NOT_FOUND"],
      [bob, "nope", 400, "VALIDATION"],
    ];

    for (const [user, messageId, status, code] of refusals) {
      expectError(await remove(user, messageId), status, code);
      expectRefused(await answer(socketOf(user), "delete-message", { messageId }), code);
    }

    expect((await history(alice, chatId)).map((m) => m.deleted)).toEqual([false, false]);
    expect((await history(alice, direct))[0].deleted).toBe(false);
    const byAdmin = await answer(socketOf(alice), "delete-message", { messageId: bobs._id });
    expect(byAdmin.event).toBe("change-accepted");
    expect((await remove(carol, carols._id)).status).toBe(204);
    expect((await remove(alice, alices._id)).status).toBe(204);
    expect((await history(bob, chatId)).map((m) => m.deleted)).toEqual([true, true]);
  });

  test("deleting again: 204, no new version, no second message-deleted; editing or reacting to it: 409 MESSAGE_DELETED", async () => {
    const { alice, bob, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob]);
    const doomed = await post(server.api, bob, chatId, "twice");
    expect((await remove(bob, doomed._id)).status).toBe(204);
    const { version } = (await sockets[0].next("message-deleted")).data;

    expect((await remove(bob, doomed._id)).status).toBe(204);
    expect((await remove(alice, doomed._id)).status).toBe(204);
    expectError(await edit(bob, doomed._id, "back"), 409, "MESSAGE_DELETED");
    expectError(await react(alice, doomed._id, "👍"), 409, "MESSAGE_DELETED");
    expectError(await react(alice, doomed._id, "👍", false), 409, "MESSAGE_DELETED");

    // Probe: a later message that every member hears after anything the repeats sent.
    const probe = await post(server.api, alice, chatId, "probe");
    for (const socket of sockets) {
      await socket.next("new-message", (m) => m._id === probe._id);
      expect(events(socket, "message-deleted")).toHaveLength(1);
      expect(events(socket, "message-updated")).toEqual([]);
    }
    expect((await history(alice, chatId))[0]).toMatchObject({ deleted: true, version });
    expect(probe.version).toBeGreaterThan(version);
  });
});

describe("reactions", () => {
  test("over REST: one per user per emoji, in the order each emoji was first used, gone with its last user; message-updated each time", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const message = await post(server.api, alice, chatId, "Ship it?");
    const steps: [TestUser, string, boolean, ReturnType<typeof by>[]][] = [
      [bob, "👍", true, [by("👍", bob)]],
      [carol, "🎉", true, [by("👍", bob), by("🎉", carol)]],
      [alice, "🎉", true, [by("👍", bob), by("🎉", alice, carol)]],
      [bob, "👍", false, [by("🎉", alice, carol)]],
      [carol, "🎉", false, [by("🎉", alice)]],
    ];
    const versions: number[] = [];
    for (const [user, emoji, on, expected] of steps) {
      const res = await react(user, message._id, emoji, on);
      expect(res.status).toBe(200);
      expect(reactionsOf(res.body.message)).toEqual(expected);
      versions.push(res.body.message.version);
    }
    expectAscending([message.version, ...versions]);
    for (const socket of sockets) {
      await socket.next("message-updated", (m) => m.version === versions.at(-1));
      expect(events(socket, "message-updated").map(versionOf)).toEqual(versions);
    }
  });

  test("the same reaction twice: the same state, no new version, no event", async () => {
    const { alice, bob, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob]);
    const message = await post(server.api, alice, chatId, "Coffee?");
    const first = (await react(bob, message._id, "☕")).body.message;

    const again = await react(bob, message._id, "☕");

    expect(again.status).toBe(200);
    expect(again.body.message).toEqual(first);
    // Probe: another reaction, heard by every member after anything the repeat sent.
    const probe = (await react(alice, message._id, "👍")).body.message;
    for (const socket of sockets) {
      await socket.next("message-updated", (m) => m.version === probe.version);
      expect(events(socket, "message-updated").map(versionOf)).toEqual([
        first.version,
        probe.version,
      ]);
    }
  });

  test("over the socket: react on and off → change-accepted with the ref, message-updated to every member", async () => {
    const { alice, bob, carol, chatId } = await group();
    const sockets = await socketsOf(server, [alice, bob, carol]);
    const message = await post(server.api, alice, chatId, "Launch day");
    const reaction = { messageId: message._id, emoji: "🚀" };

    const on = await answer(sockets[2], "react", { ...reaction, on: true });
    expect(on.event).toBe("change-accepted");
    expect(on.data).toEqual({ messageId: message._id, version: expect.any(Number) });
    for (const socket of sockets) {
      const heard = await socket.next("message-updated", (m) => m.version === on.data.version);
      expect(reactionsOf(heard.data)).toEqual([by("🚀", carol)]);
    }
    const off = await answer(sockets[2], "react", { ...reaction, on: false });
    expect(off.event).toBe("change-accepted");
    expect(off.data.version).toBeGreaterThan(on.data.version);
    for (const socket of sockets) {
      const heard = await socket.next("message-updated", (m) => m.version === off.data.version);
      expect(heard.data.reactions).toEqual([]);
    }
  });

  test("any member reacts, no one else: a stranger 404; an emoji over 32 characters or with whitespace 400, over REST and the socket alike", async () => {
    const { alice, bob, stranger, chatId } = await group();
    const message = await post(server.api, alice, chatId, "React to me");
    const direct = await chatBetween(server.api, alice, bob);
    const inDirect = await post(server.api, alice, direct, "and me");
    const [bobSocket, strangerSocket] = await socketsOf(server, [bob, stranger]);

    expect((await react(bob, inDirect._id, "❤️")).status).toBe(200);
    expect((await react(bob, message._id, "x".repeat(32))).status).toBe(200);
    expect((await react(bob, message._id, ":party_parrot:")).status).toBe(200);
    expectError(await react(stranger, message._id, "👍"), 404, "NOT_FOUND");
    expectError(await react(bob, unknownId(), "👍"), 404, "NOT_FOUND");
    expectError(await react(bob, "nope", "👍"), 400, "VALIDATION");
    for (const emoji of ["x".repeat(33), "thumbs up", "a\tb", " "]) {
      expectError(await react(bob, message._id, emoji), 400, "VALIDATION");
    }
    const over = (emoji: string) => ({ messageId: message._id, emoji, on: true });
    expectRefused(await answer(strangerSocket, "react", over("👍")), "NOT_FOUND");
    for (const emoji of ["x".repeat(33), "thumbs up", ""]) {
      expectRefused(await answer(bobSocket, "react", over(emoji)), "VALIDATION");
    }

    const stored = (await history(alice, chatId))[0];
    expect(reactionsOf(stored)).toEqual([by("x".repeat(32), bob), by(":party_parrot:", bob)]);
  });
});

describe("versions and GET /api/chats/:chatId/changes", () => {
  const changed = async (res: Promise<ApiResponse>) => {
    const done = await res;
    expect(done.status).toBe(200);
    return done.body.message;
  };

  test("every change takes a version above every earlier one in the chat; the chat's version is the newest", async () => {
    const { alice, bob, chatId } = await group();
    const aliceSocket = await connected(server, alice);
    const one = await post(server.api, alice, chatId, "one");
    const two = await post(server.api, bob, chatId, "two");
    const edited = await changed(edit(alice, one._id, "one, edited"));
    const reacted = await changed(react(bob, one._id, "👍"));
    const unreacted = await changed(react(bob, one._id, "👍", false));
    expect((await remove(bob, two._id)).status).toBe(204);
    const deleted = (await aliceSocket.next("message-deleted")).data;
    const three = await post(server.api, alice, chatId, "three");

    expectAscending([one, two, edited, reacted, unreacted, deleted, three].map((m) => m.version));
    expect((await chatAs(alice, chatId)).version).toBe(three.version);
    expect((await chatAs(bob, chatId)).version).toBe(three.version);
    expect((await history(bob, chatId)).map((m) => m.version)).toEqual([
      unreacted.version,
      deleted.version,
      three.version,
    ]);
  });

  test("since= pages through each changed message once, in its latest state, by ascending version", async () => {
    const { alice, bob, chatId } = await group();
    const m: any[] = [];
    for (const text of ["m1", "m2", "m3", "m4"])
      m.push(await post(server.api, alice, chatId, text));
    await changed(edit(alice, m[0]._id, "m1, edited"));
    await changed(react(bob, m[2]._id, "👀"));
    const order = [m[1], m[3], m[0], m[2]].map((x) => x._id);
    const ids = (res: ApiResponse) => res.body.messages.map((x: any) => x._id);

    const all = await changes(bob, chatId, "since=0");
    expect(all.status).toBe(200);
    expect(all.body.hasMore).toBe(false);
    expect(ids(all)).toEqual(order);
    expectAscending(all.body.messages.map((x: any) => x.version));
    expect(all.body.messages[2]).toMatchObject({ text: "m1, edited", editedAt: ISO });
    expect(reactionsOf(all.body.messages[3])).toEqual([by("👀", bob)]);

    const first = await changes(bob, chatId, "since=0&limit=3");
    expect(ids(first)).toEqual(order.slice(0, 3));
    expect(first.body.hasMore).toBe(true);
    const next = await changes(bob, chatId, `since=${first.body.messages[2].version}&limit=3`);
    expect(ids(next)).toEqual(order.slice(3));
    expect(next.body.hasMore).toBe(false);
    const newest = (await chatAs(bob, chatId)).version;
    expect(newest).toBe(all.body.messages[3].version);
    const none = await changes(bob, chatId, `since=${newest}`);
    expect(none.body).toEqual({ messages: [], hasMore: false });
  });

  test("404 for a stranger and an unknown chat, 400 for a bad since or limit, 401 without a token", async () => {
    const { alice, stranger, chatId } = await group();
    expectError(await changes(stranger, chatId, "since=0"), 404, "NOT_FOUND");
    expectError(await changes(alice, unknownId(), "since=0"), 404, "NOT_FOUND");
    for (const query of [
      "since=-1",
      "since=abc",
      "since=1.5",
      "since=0&limit=0",
      "since=0&limit=101",
    ]) {
      expectError(await changes(alice, chatId, query), 400, "VALIDATION");
    }
    expect((await changes(alice, chatId, "since=0&limit=100")).status).toBe(200);
    expect((await server.api(`/api/chats/${chatId}/changes?since=0`)).status).toBe(401);
  });
});

/** Joins with `data`; returns the change frames the join replayed, in the order they came. */
async function replayed(socket: TestSocket, data: object): Promise<Frame[]> {
  socket.send("join-chat", data, "resume");
  const joined = await socket.next("chat-joined");
  // Frames are handled in order: the pong comes after the whole replay.
  await roundTrip(socket);
  return socket.frames
    .slice(socket.frames.indexOf(joined) + 1)
    .filter((f) => ["new-message", "message-updated", "message-deleted"].includes(f.event));
}

describe("a member who was away catches up by version", () => {
  let g: Group;
  /** The highest version Carol saw, and the highest seq. */
  let since: number;
  let lastSeqSeen: number;
  /** "old 1" … "old 5", which Carol saw, and "new 1" … "new 3", sent while she was away. */
  const old: any[] = [];
  const fresh: any[] = [];

  beforeAll(async () => {
    g = await group();
    const { alice, bob, carol, chatId } = g;
    const ok = async (res: Promise<ApiResponse>) => expect((await res).status).toBe(200);
    const carolSocket = await inChat(server, carol, chatId);
    for (const [i, sender] of [alice, bob, alice, bob, alice].entries()) {
      old.push(await post(server.api, sender, chatId, `old ${i + 1}`));
    }
    await carolSocket.next("new-message", (m) => m.seq === 5);
    const seen = events(carolSocket, "new-message").map((f) => f.data);
    since = Math.max(...seen.map((m) => m.version));
    lastSeqSeen = Math.max(...seen.map((m) => m.seq));
    await carolSocket.close();

    fresh.push(await post(server.api, alice, chatId, "new 1"));
    await ok(edit(alice, old[0]._id, "old 1, edited"));
    fresh.push(await post(server.api, bob, chatId, "new 2"));
    await ok(react(bob, old[2]._id, "👍"));
    fresh.push(await post(server.api, alice, chatId, "new 3"));
    await ok(edit(bob, fresh[1]._id, "new 2, edited"));
    expect((await remove(bob, old[1]._id)).status).toBe(204);
    await ok(react(alice, old[3]._id, "🎉"));
    await ok(edit(bob, fresh[1]._id, "new 2, edited twice"));
    await ok(react(alice, old[3]._id, "🎉", false));
  });

  /** The changed messages in the order of their latest versions; "old 5" never changed. */
  const byVersion = () => [fresh[0], old[0], old[2], fresh[2], old[1], fresh[1], old[3]];

  test("changes?since= returns each changed message once, by ascending version, in its latest state", async () => {
    const res = await changes(g.carol, g.chatId, `since=${since}&limit=100`);

    expect(res.status).toBe(200);
    const { messages, hasMore } = res.body;
    const ids = messages.map((m: any) => m._id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(byVersion().map((m) => m._id));
    expect(hasMore).toBe(false);
    expectAscending(messages.map((m: any) => m.version));
    const latest = (m: any) => messages.find((x: any) => x._id === m._id);
    expect(latest(old[0])).toMatchObject({ text: "old 1, edited", editedAt: ISO, deleted: false });
    expect(latest(old[1])).toMatchObject({ seq: 2, text: "", deleted: true, reactions: [] });
    expect(reactionsOf(latest(old[2]))).toEqual([by("👍", g.bob)]);
    expect(latest(old[3])).toMatchObject({ text: "old 4", editedAt: null, reactions: [] });
    expect(latest(fresh[1])).toMatchObject({ text: "new 2, edited twice", editedAt: ISO });
    expect(messages.at(-1).version).toBe((await chatAs(g.carol, g.chatId)).version);

    // Pages of two, each starting after the last version of the one before, make the same list.
    const paged: string[] = [];
    for (let cursor = since, more = true; more; ) {
      const page = await changes(g.carol, g.chatId, `since=${cursor}&limit=2`);
      paged.push(...page.body.messages.map((m: any) => m._id));
      more = page.body.hasMore;
      cursor = page.body.messages.at(-1)?.version ?? cursor;
    }
    expect(paged).toEqual(ids);
  });

  test("join-chat { since } replays it: new-message for the new ones, message-deleted for the deleted one, message-updated for the rest", async () => {
    const socket = await connected(server, g.carol);

    const replay = await replayed(socket, { chatId: g.chatId, since });

    const [new1, old1, old3, new3, old2, new2, old4] = byVersion().map((m) => m._id);
    expect(replay.map((f) => [f.event, idOf(f)])).toEqual([
      ["new-message", new1],
      ["message-updated", old1],
      ["message-updated", old3],
      ["new-message", new3],
      ["message-deleted", old2],
      ["new-message", new2],
      ["message-updated", old4],
    ]);
    expectAscending(replay.map(versionOf));
    expect(replay[1]!.data.text).toBe("old 1, edited");
    expect(replay[4]!.data).toEqual({
      chatId: g.chatId,
      messageId: old2,
      seq: 2,
      version: expect.any(Number),
    });
    expect(replay[5]!.data.text).toBe("new 2, edited twice");
    expect(replay[6]!.data.reactions).toEqual([]);
    await socket.close();
  });

  test("join-chat { after, since }: the new messages once, by seq, then the other changes by version", async () => {
    const socket = await connected(server, g.carol);

    const replay = await replayed(socket, { chatId: g.chatId, after: lastSeqSeen, since });

    const [new1, old1, old3, new3, old2, new2, old4] = byVersion().map((m) => m._id);
    expect(replay.map((f) => [f.event, idOf(f)])).toEqual([
      ["new-message", new1],
      ["new-message", new2],
      ["new-message", new3],
      ["message-updated", old1],
      ["message-updated", old3],
      ["message-deleted", old2],
      ["message-updated", old4],
    ]);
    expect(replay.slice(0, 3).map((f) => f.data.seq)).toEqual([6, 7, 8]);
    expect(replay[1]!.data.text).toBe("new 2, edited twice");
    expectAscending(replay.slice(3).map(versionOf));
    await socket.close();
  });
});
