import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { type StoreProcess, storeProcess } from "./support/store-process.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import { type TestSocket, upgradeStatus } from "./support/ws.ts";

/**
 * The database goes away under a running app: the store runs as a process of its own and is
 * killed (SIGKILL) mid-traffic, then started again on the same port and directory. While it is
 * gone clients are told 503 UNAVAILABLE with Retry-After (REST) and UNAVAILABLE (socket), never a
 * 500, and no log line carries a driver's message. Once it is back, resends with the same
 * clientId leave every message stored exactly once.
 */
let store: StoreProcess;
let server: TestApp;
let a: TestUser;
let b: TestUser;
let chatId: string;
let socketA: TestSocket;
let socketB: TestSocket;
const logLines: string[] = [];
const PASSWORD = "correct horse battery";

beforeAll(async () => {
  store = await storeProcess();
  server = await startTestApp(
    // Resending a burst is not what the rate limits are tested on here.
    { LOG_LEVEL: "info", RATE_LIMIT_MULTIPLIER: "10" },
    {
      mongo: { uri: store.uri, dbName: "outage" },
      logTo: { write: (line) => void logLines.push(line) },
    },
  );
  [a, b] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
  chatId = await chatBetween(server.api, a, b);
  socketA = await server.socket(a.token);
  socketB = await server.socket(b.token);
  await Promise.all([socketA.next("online-users"), socketB.next("online-users")]);
});

afterAll(async () => {
  await server?.stop();
  await store?.stop();
});

/** Polls until `check` holds; returns how long that took. */
async function within(timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
  return Date.now() - started;
}

const ready = async () => (await fetch(`${server.url}/ready`)).status === 200;

/** Sends over a socket and resolves with its acknowledgement, or the error for its ref. */
async function sendOver(socket: TestSocket, clientId: string, text: string) {
  const ref = `ref-${clientId}-${crypto.randomUUID().slice(0, 8)}`;
  const from = socket.frames.length;
  socket.send("send-message", { chatId, text, clientId }, ref);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = socket.frames
      .slice(from)
      .find(
        (f) =>
          (f.event === "message-sent" && f.ref === ref) ||
          (f.event === "socket-error" && f.data.ref === ref),
      );
    if (answer) return answer;
    if (Date.now() > deadline) throw new Error(`no answer to ${clientId}`);
    await Bun.sleep(10);
  }
}

describe("while the database is down", () => {
  test("REST answers 503 UNAVAILABLE with Retry-After; sockets get UNAVAILABLE; /health stays up", async () => {
    await store.kill();
    const [login, chats, send, readiness, health] = await Promise.all([
      server.api("/api/auth/login", { body: { email: a.email, password: PASSWORD } }),
      server.api("/api/chats", { token: a.token }),
      server.api(`/api/messages/chat/${chatId}`, {
        token: a.token,
        body: { text: "while down", clientId: "rest-down" },
      }),
      fetch(`${server.url}/ready`),
      fetch(`${server.url}/health`),
    ]);
    for (const response of [login, chats, send]) {
      expect(response.status).toBe(503);
      expect(response.body.code).toBe("UNAVAILABLE");
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    expect(readiness.status).toBe(503);
    expect(health.status).toBe(200);

    const answer = await sendOver(socketA, "ws-down", "while down");
    expect(answer.event).toBe("socket-error");
    expect(answer.data.code).toBe("UNAVAILABLE");
    // A new socket cannot authenticate without the database: the upgrade is refused with 503.
    expect(await upgradeStatus(`${server.url}/ws?token=${a.token}`)).toBe(503);
  }, 60_000);

  test("once it is back the app serves again by itself, and resends store each message once", async () => {
    await store.start();
    const recovered = await within(10_000, ready);
    console.log(`ready again ${recovered} ms after the store answered`);
    const login = await server.api("/api/auth/login", {
      body: { email: a.email, password: PASSWORD },
    });
    expect(login.status).toBe(200);

    const resent = await sendOver(socketA, "ws-down", "while down");
    expect(resent.event).toBe("message-sent");
    const rest = await server.api(`/api/messages/chat/${chatId}`, {
      token: a.token,
      body: { text: "while down", clientId: "rest-down" },
    });
    expect(rest.status).toBe(201);
    await socketB.next("new-message", (m) => m.clientId === "rest-down");
  }, 30_000);
});

describe("killed mid-traffic", () => {
  test("sends in flight fail with UNAVAILABLE, never INTERNAL; after a restart none is lost or doubled", async () => {
    const history = await server.api(`/api/messages/chat/${chatId}?limit=100`, {
      token: a.token,
    });
    const before = history.body.messages.length as number;
    // Several sockets, so several sends are in flight at once when the store dies.
    const sockets = [socketA, ...(await Promise.all([1, 2, 3].map(() => server.socket(a.token))))];
    const clientIds = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    const answers = clientIds.map((clientId, i) =>
      sendOver(sockets[i % sockets.length]!, clientId, `burst ${i}`),
    );
    await socketA.next("message-sent", (data) => String(data.clientId).startsWith("burst-"));
    await store.kill();
    const settled = await Promise.all(answers);
    const failed = settled.filter((frame) => frame.event === "socket-error");
    for (const frame of failed) expect(frame.data.code).toBe("UNAVAILABLE");
    console.log(`${failed.length} of ${clientIds.length} sends in flight failed with UNAVAILABLE`);

    await store.start();
    await within(10_000, ready);
    // The client resends whatever was not acknowledged, with the same clientId.
    const acknowledged = new Set(
      settled.filter((f) => f.event === "message-sent").map((f) => f.data.clientId as string),
    );
    for (const [i, clientId] of clientIds.entries()) {
      if (acknowledged.has(clientId)) continue;
      const again = await sendOver(socketA, clientId, `burst ${i}`);
      expect(again.event).toBe("message-sent");
    }
    const after = await server.api(`/api/messages/chat/${chatId}?limit=100`, { token: a.token });
    const messages = after.body.messages as { seq: number; clientId?: string }[];
    expect(messages.length).toBe(before + clientIds.length);
    expect(messages.map((m) => m.seq)).toEqual(messages.map((_, i) => i + 1));
    const burst = messages.filter((m) => m.clientId?.startsWith("burst-"));
    expect(new Set(burst.map((m) => m.clientId)).size).toBe(clientIds.length);
  }, 120_000);
});

describe("the log", () => {
  test("names errors by class and code, never by a driver's message or stack", () => {
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const errors = entries.filter((entry) => entry.err !== undefined);
    expect(errors.length).toBeGreaterThan(0);
    for (const entry of errors) {
      const err = entry.err as Record<string, unknown>;
      expect(
        Object.keys(err).every((key) => ["name", "code", "codeName", "cause"].includes(key)),
      ).toBe(true);
      expect(typeof err.name).toBe("string");
    }
    expect(entries.some((entry) => entry.status === 500)).toBe(false);
  });
});
