import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";

let server: TestApp;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;

beforeAll(async () => {
  server = await startTestApp();
  [alice, bob, carol] = await Promise.all([
    registerUser(server.api, "Alice"),
    registerUser(server.api, "Bob"),
    registerUser(server.api, "Carol"),
  ]);
});
afterAll(async () => {
  await server.stop();
});

describe("opening a chat", () => {
  test("201 when created, 200 when it existed, from either side", async () => {
    const first = await server.api(`/api/chats/with/${bob.id}`, {
      method: "POST",
      token: alice.token,
    });
    expect(first.status).toBe(201);
    expect(first.body.chat.participants.map((p: { _id: string }) => p._id).sort()).toEqual(
      [alice.id, bob.id].sort(),
    );
    expect(first.body.chat).toMatchObject({ lastMessage: null, lastSeq: 0, unreadCount: 0 });
    expect(JSON.stringify(first.body)).not.toContain("password");
    const again = await server.api(`/api/chats/with/${alice.id}`, {
      method: "POST",
      token: bob.token,
    });
    expect(again.status).toBe(200);
    expect(again.body.chat._id).toBe(first.body.chat._id);
  });

  test("both asking at the same moment still make exactly one chat", async () => {
    const [a, b] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () =>
        server.api(`/api/chats/with/${b.id}`, { method: "POST", token: a.token }),
      ),
      ...Array.from({ length: 5 }, () =>
        server.api(`/api/chats/with/${a.id}`, { method: "POST", token: b.token }),
      ),
    ]);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(9);
    expect(new Set(results.map((r) => r.body.chat._id)).size).toBe(1);
  });

  test("400 with yourself, 404 for an unknown user, 400 for a malformed id, 401 without a token", async () => {
    const self = await server.api(`/api/chats/with/${alice.id}`, {
      method: "POST",
      token: alice.token,
    });
    expect(self.status).toBe(400);
    const unknown = await server.api("/api/chats/with/0123456789abcdef01234567", {
      method: "POST",
      token: alice.token,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("NOT_FOUND");
    const malformed = await server.api("/api/chats/with/nope", {
      method: "POST",
      token: alice.token,
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("VALIDATION");
    const anonymous = await server.api(`/api/chats/with/${bob.id}`, { method: "POST" });
    expect(anonymous.status).toBe(401);
    // Who is asking comes before what they asked: no token and a bad id is still a 401.
    const anonymousMalformed = await server.api("/api/chats/with/nope", { method: "POST" });
    expect(anonymousMalformed.status).toBe(401);
  });
});

describe("messages over REST", () => {
  test("send, read back in seq order, page with before/after, and see the chat move up", async () => {
    const chatId = await chatBetween(server.api, alice, carol);
    for (let i = 1; i <= 5; i++) {
      const sent = await server.api(`/api/messages/chat/${chatId}`, {
        method: "POST",
        token: i % 2 ? alice.token : carol.token,
        body: { text: `  message ${i}  ` },
      });
      expect(sent.status).toBe(201);
      expect(sent.body.message).toMatchObject({ chat: chatId, text: `message ${i}`, seq: i });
    }
    const all = await server.api(`/api/messages/chat/${chatId}`, { token: carol.token });
    expect(all.body.hasMore).toBe(false);
    expect(all.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(all.body.messages[0].sender).toEqual({ _id: alice.id, name: "Alice", avatar: "" });

    const latest = await server.api(`/api/messages/chat/${chatId}?limit=2`, { token: carol.token });
    expect(latest.body.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 5]);
    expect(latest.body.hasMore).toBe(true);
    const older = await server.api(`/api/messages/chat/${chatId}?before=4&limit=2`, {
      token: carol.token,
    });
    expect(older.body.messages.map((m: { seq: number }) => m.seq)).toEqual([2, 3]);
    expect(older.body.hasMore).toBe(true);
    const tooMany = await server.api(`/api/messages/chat/${chatId}?limit=101`, {
      token: carol.token,
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].path).toBe("limit");
    const missed = await server.api(`/api/messages/chat/${chatId}?after=2&limit=2`, {
      token: carol.token,
    });
    expect(missed.body.messages.map((m: { seq: number }) => m.seq)).toEqual([3, 4]);
    expect(missed.body.hasMore).toBe(true);

    const chats = await server.api("/api/chats", { token: carol.token });
    expect(chats.body.chats[0]._id).toBe(chatId);
    expect(chats.body.chats[0].lastMessage.text).toBe("message 5");
    expect(chats.body.chats[0].lastSeq).toBe(5);
    // Carol sent 2 and 4: what you write you have read, so only message 5 is unread for her.
    expect(chats.body.chats[0].unreadCount).toBe(1);
  });

  test("the same clientId twice → one message; the second answer is 200 with the first", async () => {
    const chatId = await chatBetween(server.api, alice, bob);
    const body = { text: "only once", clientId: "c-1" };
    const first = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: alice.token,
      body,
    });
    const second = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: alice.token,
      body,
    });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.message._id).toBe(first.body.message._id);
    const history = await server.api(`/api/messages/chat/${chatId}`, { token: alice.token });
    expect(
      history.body.messages.filter((m: { clientId?: string }) => m.clientId === "c-1"),
    ).toHaveLength(1);
  });

  test("blank or oversized text → 400 and nothing stored", async () => {
    const chatId = await chatBetween(server.api, bob, carol);
    for (const text of ["   ", "x".repeat(4001)]) {
      const res = await server.api(`/api/messages/chat/${chatId}`, {
        method: "POST",
        token: bob.token,
        body: { text },
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("VALIDATION");
    }
    const history = await server.api(`/api/messages/chat/${chatId}`, { token: bob.token });
    expect(history.body.messages).toEqual([]);
  });

  test("a non-participant cannot read or write a chat: 404, existence not leaked", async () => {
    const chatId = await chatBetween(server.api, alice, bob);
    const read = await server.api(`/api/messages/chat/${chatId}`, { token: carol.token });
    expect(read.status).toBe(404);
    const write = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: carol.token,
      body: { text: "let me in" },
    });
    expect(write.status).toBe(404);
    const mark = await server.api(`/api/chats/${chatId}/read`, {
      method: "POST",
      token: carol.token,
      body: { seq: 1 },
    });
    expect(mark.status).toBe(404);
    const missing = await server.api("/api/messages/chat/0123456789abcdef01234567", {
      token: carol.token,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe(read.body.message);
  });

  test("the read mark moves unread counts forward only", async () => {
    const [a, b] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
    const chatId = await chatBetween(server.api, a, b);
    for (let i = 0; i < 4; i++) {
      await server.api(`/api/messages/chat/${chatId}`, {
        method: "POST",
        token: a.token,
        body: { text: `m${i}` },
      });
    }
    const unread = async () =>
      (await server.api("/api/chats", { token: b.token })).body.chats[0].unreadCount;
    expect(await unread()).toBe(4);
    expect(
      (
        await server.api(`/api/chats/${chatId}/read`, {
          method: "POST",
          token: b.token,
          body: { seq: 3 },
        })
      ).status,
    ).toBe(204);
    expect(await unread()).toBe(1);
    await server.api(`/api/chats/${chatId}/read`, {
      method: "POST",
      token: b.token,
      body: { seq: 1 },
    });
    expect(await unread()).toBe(1);
    await server.api(`/api/chats/${chatId}/read`, {
      method: "POST",
      token: b.token,
      body: { seq: 99 },
    });
    expect(await unread()).toBe(0);
    await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: a.token,
      body: { text: "one more" },
    });
    expect(await unread()).toBe(1);
  });
});
