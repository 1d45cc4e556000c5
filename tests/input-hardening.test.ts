import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import type { ApiResponse } from "./support/http.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";

/** Short, so a stalled body is answered well inside a test's time limit. */
const BODY_TIMEOUT_MS = 1000;

let server: TestApp;
let alice: TestUser;
let bob: TestUser;
let chatId: string;

beforeAll(async () => {
  server = await startTestApp({ REQUEST_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) });
  alice = await registerUser(server.api, "Alice Hardening");
  bob = await registerUser(server.api, "Bob Hardening");
  chatId = await chatBetween(server.api, alice, bob);
});

afterAll(async () => {
  await server.stop();
});

function expectValidation(res: ApiResponse, path: string, message: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.body).toEqual({
    message: expect.any(String),
    code: "VALIDATION",
    errors: [{ path, message: expect.stringMatching(message) }],
  });
}

async function messagesInChat(): Promise<{ text: string }[]> {
  const res = await server.api(`/api/messages/chat/${chatId}`, { token: alice.token });
  expect(res.status).toBe(200);
  return res.body.messages;
}

const NUL = /NUL/;

describe("a NUL character (U+0000) is refused wherever the database could see it", () => {
  test("in the query → 400 VALIDATION naming the parameter", async () => {
    expectValidation(await server.api("/api/users?q=%00", { token: alice.token }), "q", NUL);
    expectValidation(await server.api("/api/users?q=al%00ice", { token: alice.token }), "q", NUL);
    // Even a parameter no route reads: NUL is never meaningful text here.
    expectValidation(await server.api("/api/chats?x%00=1", { token: alice.token }), "x\0", NUL);
  });

  test("in a path parameter → 400 VALIDATION naming it", async () => {
    expectValidation(await server.api("/api/users/%00", { token: alice.token }), "id", NUL);
  });

  test("in a body value → 400 VALIDATION, and no account is made", async () => {
    const email = `nul.${crypto.randomUUID().slice(0, 8)}@example.com`;
    const res = await server.api("/api/auth/register", {
      method: "POST",
      body: { name: "Eve\0Nul", email, password: "correct horse battery" },
    });
    expectValidation(res, "name", NUL);
    const login = await server.api("/api/auth/login", {
      method: "POST",
      body: { email, password: "correct horse battery" },
    });
    expect(login.status).toBe(401);
    const found = await server.api("/api/users?q=Eve", { token: alice.token });
    expect(found.body.users).toEqual([]);
  });

  test("in a message's text → 400 VALIDATION, and nothing is stored", async () => {
    const res = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: alice.token,
      body: { text: "hello\0there" },
    });
    expectValidation(res, "text", NUL);
    expect(await messagesInChat()).toEqual([]);
  });

  test("in a body key, at any depth → 400 VALIDATION naming it, and nothing is stored", async () => {
    const top = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: alice.token,
      body: { text: "hello", "note\0": 1 },
    });
    expectValidation(top, "note\0", NUL);
    const nested = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: alice.token,
      body: { text: "hello", meta: [{ "a\0b": "x" }] },
    });
    expectValidation(nested, "meta.0.a\0b", NUL);
    expect(await messagesInChat()).toEqual([]);
  });
});

describe("a JSON body nested past the depth limit", () => {
  const DEPTH = 5000;
  const deepArray = `${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}`;
  const deepObject = `${'{"a":'.repeat(DEPTH)}1${"}".repeat(DEPTH)}`;

  test("[[[…]]] 5,000 deep → 400 VALIDATION, wherever it sits", async () => {
    const bodies = [deepArray, `{"text":${deepArray}}`];
    for (const rawBody of bodies) {
      const res = await server.api(`/api/messages/chat/${chatId}`, {
        method: "POST",
        token: alice.token,
        rawBody,
      });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("VALIDATION");
      expect(res.body.errors[0].message).toMatch(/deeper than \d+ levels/);
    }
    // A field whose schema has its own error message took another road to the same overflow.
    const session = await server.api("/api/sessions", {
      method: "POST",
      token: alice.token,
      rawBody: `{"problem":${deepArray},"difficulty":"easy"}`,
    });
    expect(session.status).toBe(400);
    expect(session.body.code).toBe("VALIDATION");
    expect(await messagesInChat()).toEqual([]);
  });

  test('{"a":{"a":…}} 5,000 and 100,000 deep → 400 VALIDATION', async () => {
    const deeper = `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`;
    for (const rawBody of [deepObject, `{"text":${deepObject}}`, `{"text":${deeper}}`]) {
      const res = await server.api(`/api/messages/chat/${chatId}`, {
        method: "POST",
        token: alice.token,
        rawBody,
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        message: expect.any(String),
        code: "VALIDATION",
        errors: [{ path: expect.stringMatching(/^(a\.|text\.)/), message: expect.any(String) }],
      });
      expect(res.body.errors[0].message).toMatch(/deeper than \d+ levels/);
    }
    expect(await messagesInChat()).toEqual([]);
  });

  test("a body nested a sane number of levels is still accepted", async () => {
    const res = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: alice.token,
      rawBody: `{"text":"still fine","extra":${"[".repeat(20)}${"]".repeat(20)}}`,
    });
    expect(res.status).toBe(201);
    expect(res.body.message.text).toBe("still fine");
  });

  test("after all that bad input the process still answers", async () => {
    expect((await server.api("/health")).status).toBe(200);
  });
});

describe("the same rule on /ws frames", () => {
  test("a NUL in a frame or a frame nested too deeply → socket-error VALIDATION; nothing stored, the socket stays", async () => {
    const socket = await server.socket(alice.token);
    await socket.next("online-users");
    const stored = await messagesInChat();
    const deep = `${"[".repeat(30_000)}${"]".repeat(30_000)}`;
    socket.send("send-message", { chatId, text: "nul\0here", clientId: "nul-ws" }, "nul");
    socket.send("send-message", { chatId, text: "key", "k\0": 1 }, "nul-key");
    socket.sendRaw(
      `{"event":"send-message","data":{"chatId":"${chatId}","text":${deep}},"ref":"deep"}`,
    );
    socket.sendRaw(`{"event":"ping","data":${deep},"ref":"deep-ping"}`);
    for (const [ref, path] of [
      ["nul", "data.text"],
      ["nul-key", "data.k\0"],
    ]) {
      const error = await socket.next("socket-error", (d) => d.ref === ref);
      expect(error.data).toMatchObject({ code: "VALIDATION", errors: [{ path }] });
    }
    for (const ref of ["deep", "deep-ping"]) {
      const error = await socket.next("socket-error", (d) => d.ref === ref);
      expect(error.data.code).toBe("VALIDATION");
      expect(error.data.errors[0].message).toMatch(/deeper than \d+ levels/);
    }
    socket.send("ping", "still here");
    expect((await socket.next("pong")).data).toBe("still here");
    expect(await messagesInChat()).toEqual(stored);
    await socket.close();
  });
});

interface RawExchange {
  /** The raw bytes the server sent back, headers and body. */
  response: string;
  /** Milliseconds from the first byte sent until the server closed the connection. */
  closedAfterMs: number;
}

/**
 * Sends `head` and then whatever `trickle` writes over raw TCP, so the test controls every byte,
 * and waits (up to `waitMs`) for the server to close the connection.
 */
async function rawExchange(
  head: string,
  trickle: (write: (bytes: string) => void) => void,
  waitMs = BODY_TIMEOUT_MS + 4000,
): Promise<RawExchange> {
  const { port } = new URL(server.url);
  const closed = Promise.withResolvers<void>();
  let response = "";
  const startedAt = performance.now();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: Number(port),
    socket: {
      data(_socket, data) {
        response += Buffer.from(data).toString("utf8");
      },
      close() {
        closed.resolve();
      },
      error() {
        closed.resolve();
      },
    },
  });
  socket.write(head);
  trickle((bytes) => socket.write(bytes));
  const timer = setTimeout(() => closed.resolve(), waitMs);
  await closed.promise;
  clearTimeout(timer);
  const closedAfterMs = performance.now() - startedAt;
  socket.end();
  return { response, closedAfterMs };
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

function bodyOf(response: string): unknown {
  return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));
}

function stalledHead(contentType: string): string {
  return (
    "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
    `Content-Type: ${contentType}\r\nContent-Length: 1000\r\n\r\n`
  );
}

describe("a request body that stops arriving", () => {
  const expectTimedOut = ({ response, closedAfterMs }: RawExchange) => {
    expect(statusOf(response)).toBe(408);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(bodyOf(response)).toEqual({ message: expect.any(String), code: "REQUEST_TIMEOUT" });
    expect(closedAfterMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
    expect(closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS + 3000);
  };

  test("a JSON body stalled after 10 of 1000 bytes → 408 REQUEST_TIMEOUT within the deadline, while others are served", async () => {
    const exchange = rawExchange(stalledHead("application/json"), (write) => write('{"email":"'));
    await Bun.sleep(100);
    const startedAt = performance.now();
    expect((await server.api("/health")).status).toBe(200);
    const other = await server.api("/api/auth/login", {
      method: "POST",
      body: { email: alice.email, password: "correct horse battery" },
    });
    expect(other.status).toBe(200);
    expect(performance.now() - startedAt).toBeLessThan(BODY_TIMEOUT_MS);
    expectTimedOut(await exchange);
  }, 15_000);

  test("a non-JSON body is not waited for: 415 UNSUPPORTED_MEDIA_TYPE at once, and the connection closes", async () => {
    const { response, closedAfterMs } = await rawExchange(stalledHead("text/plain"), (write) =>
      write("0123456789"),
    );
    expect(statusOf(response)).toBe(415);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(bodyOf(response)).toEqual({
      message: expect.any(String),
      code: "UNSUPPORTED_MEDIA_TYPE",
    });
    expect(closedAfterMs).toBeLessThan(BODY_TIMEOUT_MS);
  }, 15_000);

  test("a body that trickles in, never idle for long, still meets the whole-body deadline", async () => {
    let drip: ReturnType<typeof setInterval> | undefined;
    const exchange = await rawExchange(stalledHead("application/json"), (write) => {
      write("[");
      drip = setInterval(() => write(" "), 200);
    });
    clearInterval(drip);
    expectTimedOut(exchange);
  }, 15_000);
});
