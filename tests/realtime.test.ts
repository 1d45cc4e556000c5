import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import { upgradeStatus } from "./support/ws.ts";

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

/** Two fresh users who share a chat. */
async function pair(): Promise<{ a: TestUser; b: TestUser; chatId: string }> {
  const [a, b] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
  return { a, b, chatId: await chatBetween(server.api, a, b) };
}

describe("the upgrade", () => {
  test("no token or a bad one → HTTP 401 and no socket", async () => {
    expect(await upgradeStatus(`${server.url}/ws`)).toBe(401);
    expect(await upgradeStatus(`${server.url}/ws?token=not.a.token`)).toBe(401);
  });

  test("a cookie opens a socket only from an allowed origin (no cross-site socket hijacking)", async () => {
    const { a } = await pair();
    const cookie = `token=${a.token}`;
    const evil = await upgradeStatus(`${server.url}/ws`, {
      cookie,
      origin: "https://evil.example",
    });
    expect(evil).toBe(403);
    const own = new WebSocket(`${server.url.replace("http", "ws")}/ws`, {
      headers: { cookie, origin: "http://localhost:5173" },
    } as unknown as string[]);
    const first = await new Promise<string>((resolve, reject) => {
      own.onmessage = (message) => resolve(JSON.parse(String(message.data)).event);
      own.onerror = () => reject(new Error("the allowed origin was refused"));
    });
    expect(first).toBe("online-users");
    own.close();
    // An explicit token is no ambient credential: it works from anywhere.
    const explicit = await server.socket(a.token);
    await explicit.next("online-users");
    await explicit.close();
  });

  test("a valid ?token= opens a socket that first hears online-users", async () => {
    const { a } = await pair();
    const socket = await server.socket(a.token);
    const first = await socket.next("online-users");
    expect(first.data).toEqual({ userIds: [] });
    await socket.close();
  });
});

describe("two users, three sockets", () => {
  test("messages reach every tab, typing is not echoed, presence counts tabs", async () => {
    const { a, b, chatId } = await pair();
    const a1 = await server.socket(a.token);
    await a1.next("online-users");
    const b1 = await server.socket(b.token);
    expect((await b1.next("online-users")).data.userIds).toEqual([a.id]);
    expect((await a1.next("user-online")).data).toEqual({ userId: b.id });
    const a2 = await server.socket(a.token);
    expect((await a2.next("online-users")).data.userIds).toEqual([b.id]);

    for (const socket of [a1, a2, b1]) {
      socket.send("join-chat", chatId, "j");
      await socket.next("chat-joined");
    }

    b1.send("typing", { chatId, isTyping: true });
    expect((await a1.next("typing")).data).toEqual({ userId: b.id, chatId, isTyping: true });
    expect((await a2.next("typing")).data).toEqual({ userId: b.id, chatId, isTyping: true });

    a1.send("send-message", { chatId, text: "hello", clientId: "m1" }, "r1");
    const sent = await a1.next("message-sent");
    expect(sent.ref).toBe("r1");
    expect(sent.data.clientId).toBe("m1");
    expect(sent.data.message).toMatchObject({ text: "hello", seq: 1, chat: chatId });
    for (const socket of [a1, a2, b1]) {
      expect((await socket.next("new-message")).data._id).toBe(sent.data.message._id);
    }

    // Nobody saw their own typing; Alice's first tab never got a user-online for Alice's second tab.
    expect(b1.frames.filter((f) => f.event === "typing" && f.data.userId === b.id)).toEqual([]);
    expect(b1.frames.filter((f) => f.event === "user-online")).toEqual([]);

    await a1.close();
    await Bun.sleep(100);
    expect(b1.frames.filter((f) => f.event === "user-offline")).toEqual([]);
    await a2.close();
    expect((await b1.next("user-offline")).data).toEqual({ userId: a.id });
    await b1.close();
  });

  test("two online users who open a chat start seeing each other's presence at once", async () => {
    const [a, b] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
    const [sa, sb] = await Promise.all([server.socket(a.token), server.socket(b.token)]);
    expect((await sa.next("online-users")).data.userIds).toEqual([]);
    expect((await sb.next("online-users")).data.userIds).toEqual([]);
    await chatBetween(server.api, a, b);
    expect((await sa.next("user-online")).data).toEqual({ userId: b.id });
    expect((await sb.next("user-online")).data).toEqual({ userId: a.id });
    // Opening it again changes nothing.
    await chatBetween(server.api, b, a);
    await Bun.sleep(100);
    expect(sa.frames.filter((f) => f.event === "user-online")).toHaveLength(1);
    await sb.close();
    expect((await sa.next("user-offline")).data).toEqual({ userId: b.id });
    await sa.close();
  });

  test("message-sent comes only once the message is readable through REST", async () => {
    const { a, chatId } = await pair();
    const socket = await server.socket(a.token);
    for (let i = 0; i < 5; i++) {
      socket.send("send-message", { chatId, text: `m${i}` }, `r${i}`);
      const ack = await socket.next("message-sent", (d) => d.message.text === `m${i}`);
      const history = await server.api(
        `/api/messages/chat/${chatId}?after=${ack.data.message.seq - 1}`,
        {
          token: a.token,
        },
      );
      expect(history.body.messages[0]._id).toBe(ack.data.message._id);
    }
    await socket.close();
  });

  test("the same clientId twice → one message, both acknowledged with it, fanned out again", async () => {
    const { a, b, chatId } = await pair();
    const socket = await server.socket(a.token);
    const other = await server.socket(b.token);
    socket.send("send-message", { chatId, text: "once", clientId: "dup" });
    socket.send("send-message", { chatId, text: "once", clientId: "dup" });
    const first = await socket.next("message-sent");
    const second = await socket.next("message-sent");
    expect(second.data.message._id).toBe(first.data.message._id);
    // The resend fans the stored message out again (its first fan-out may have died with an
    // instance); the receiver recognizes it by its seq.
    await other.next("new-message");
    await other.next("new-message");
    const heard = other.frames.filter((f) => f.event === "new-message").map((f) => f.data);
    expect(heard.map((m) => [m._id, m.seq])).toEqual([
      [first.data.message._id, 1],
      [first.data.message._id, 1],
    ]);
    const history = await server.api(`/api/messages/chat/${chatId}`, { token: b.token });
    expect(history.body.messages).toHaveLength(1);
    await socket.close();
    await other.close();
  });

  test("20 concurrent sends in one chat → seq 1..20 with no gap", async () => {
    const { a, b, chatId } = await pair();
    const [sa, sb] = await Promise.all([server.socket(a.token), server.socket(b.token)]);
    for (let i = 0; i < 10; i++) {
      sa.send("send-message", { chatId, text: `a${i}` });
      server.api(`/api/messages/chat/${chatId}`, {
        method: "POST",
        token: b.token,
        body: { text: `b${i}` },
      });
    }
    const history = async () =>
      (await server.api(`/api/messages/chat/${chatId}`, { token: a.token })).body;
    for (let i = 0; i < 50 && (await history()).messages.length < 20; i++) await Bun.sleep(50);
    const { messages } = await history();
    expect(messages.map((m: { seq: number }) => m.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await sa.close();
    await sb.close();
  });

  test("a reconnecting socket with after=<seq> gets exactly what it missed", async () => {
    const { a, b, chatId } = await pair();
    const sender = await server.socket(a.token);
    const reader = await server.socket(b.token);
    sender.send("send-message", { chatId, text: "seen" });
    const seen = await reader.next("new-message");
    await reader.close();
    for (const text of ["missed 1", "missed 2", "missed 3"]) {
      sender.send("send-message", { chatId, text });
      await sender.next("message-sent", (d) => d.message.text === text);
    }
    const again = await server.socket(b.token);
    again.send("join-chat", { chatId, after: seen.data.seq });
    await again.next("chat-joined");
    const replayed = [
      await again.next("new-message"),
      await again.next("new-message"),
      await again.next("new-message"),
    ];
    expect(replayed.map((f) => f.data.text)).toEqual(["missed 1", "missed 2", "missed 3"]);
    await Bun.sleep(100);
    expect(again.frames.filter((f) => f.event === "new-message")).toHaveLength(3);
    await sender.close();
    await again.close();
  });
});

describe("what a socket may not do", () => {
  test("a non-participant's join-chat and history → NOT_FOUND", async () => {
    const { chatId } = await pair();
    const outsider = await registerUser(server.api);
    const socket = await server.socket(outsider.token);
    socket.send("join-chat", chatId, "j1");
    const error = await socket.next("socket-error");
    expect(error.data).toMatchObject({ code: "NOT_FOUND", ref: "j1" });
    socket.send("join-chat", { chatId, after: 0 }, "j2");
    expect((await socket.next("socket-error")).data).toMatchObject({
      code: "NOT_FOUND",
      ref: "j2",
    });
    socket.send("send-message", { chatId, text: "hi" }, "s1");
    expect((await socket.next("socket-error")).data).toMatchObject({
      code: "NOT_FOUND",
      ref: "s1",
    });
    expect(socket.frames.filter((f) => f.event === "new-message")).toEqual([]);
    await socket.close();
  });

  test("non-JSON, an unknown event and a bad payload each → socket-error, and the socket stays open", async () => {
    const { a } = await pair();
    const socket = await server.socket(a.token);
    socket.sendRaw("this is not json");
    expect((await socket.next("socket-error")).data.code).toBe("VALIDATION");
    socket.send("fly-to-the-moon", {}, "u1");
    expect((await socket.next("socket-error")).data).toMatchObject({
      code: "UNKNOWN_EVENT",
      ref: "u1",
    });
    socket.send("send-message", { chatId: "nope", text: 42 }, "b1");
    const bad = await socket.next("socket-error");
    expect(bad.data).toMatchObject({ code: "VALIDATION", ref: "b1" });
    expect(bad.data.errors.length).toBeGreaterThan(0);
    socket.send("ping", { n: 1 }, "p1");
    expect(await socket.next("pong")).toEqual({ event: "pong", data: { n: 1 }, ref: "p1" });
    await socket.close();
  });

  test("a frame over 64 KiB closes the socket with 1009", async () => {
    const { a, chatId } = await pair();
    const socket = await server.socket(a.token);
    socket.send("send-message", { chatId, text: "x".repeat(65 * 1024) });
    expect(await socket.closed()).toBe(1009);
    const history = await server.api(`/api/messages/chat/${chatId}`, { token: a.token });
    expect(history.body.messages).toEqual([]);
  });

  test("a burst past the rate limit → RATE_LIMITED, and those messages are not stored", async () => {
    const { a, chatId } = await pair();
    const socket = await server.socket(a.token);
    const burst = 60;
    for (let i = 0; i < burst; i++)
      socket.send("send-message", { chatId, text: `m${i}`, clientId: `k${i}` }, `r${i}`);
    for (let i = 0; i < 200; i++) {
      const answered = socket.frames.filter(
        (f) => f.event === "message-sent" || f.event === "socket-error",
      );
      if (answered.length === burst) break;
      await Bun.sleep(25);
    }
    const limited = socket.frames.filter((f) => f.event === "socket-error");
    const acked = socket.frames.filter((f) => f.event === "message-sent");
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.every((f) => f.data.code === "RATE_LIMITED")).toBe(true);
    expect(acked.length + limited.length).toBe(burst);
    const history = await server.api(`/api/messages/chat/${chatId}?limit=100`, { token: a.token });
    expect(history.body.messages).toHaveLength(acked.length);
    const refused = new Set(limited.map((f) => f.data.ref));
    const storedRefs = history.body.messages.map(
      (m: { clientId: string }) => `r${m.clientId.slice(1)}`,
    );
    expect(storedRefs.some((r: string) => refused.has(r))).toBe(false);
    await socket.close();
  });
});

describe("read marks over the socket", () => {
  test("mark-read moves unread counts forward only and tells the other side", async () => {
    const { a, b, chatId } = await pair();
    const sa = await server.socket(a.token);
    const sb = await server.socket(b.token);
    for (let i = 0; i < 3; i++) {
      sa.send("send-message", { chatId, text: `m${i}` });
      await sa.next("message-sent", (d) => d.message.text === `m${i}`);
    }
    const unread = async () =>
      (await server.api("/api/chats", { token: b.token })).body.chats[0].unreadCount;
    expect(await unread()).toBe(3);
    sb.send("mark-read", { chatId, seq: 2 });
    expect((await sa.next("chat-read")).data).toEqual({ chatId, userId: b.id, seq: 2 });
    expect(await unread()).toBe(1);
    sb.send("mark-read", { chatId, seq: 1 });
    sb.send("ping", null, "sync");
    await sb.next("pong");
    expect(await unread()).toBe(1);
    expect(sa.frames.filter((f) => f.event === "chat-read")).toHaveLength(1);
    await sa.close();
    await sb.close();
  });
});
