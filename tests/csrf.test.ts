import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { clerkUserJson, signWebhook, webhookSecret } from "./support/fake-clerk.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import { openSocket, upgradeStatus } from "./support/ws.ts";

/**
 * Cross-site request forgery. A page on another port of the same host is the same site, so the
 * SameSite=Lax `token` cookie goes along with whatever it sends. Forms and multipart need no CORS
 * preflight, so the body rule (JSON only) stops them; the Origin rule stops the rest of what a
 * page can send with the cookie alone.
 */
const ALLOWED = "http://localhost:5173";
const SAME_SITE_OTHER_PORT = "http://127.0.0.1:4444";
const SECRET = webhookSecret();

let server: TestApp;
let alice: TestUser;
let bob: TestUser;
let chatId: string;

beforeAll(async () => {
  server = await startTestApp({
    CORS_ORIGINS: `${ALLOWED},http://localhost:8081`,
    CLERK_WEBHOOK_SIGNING_SECRET: SECRET,
  });
  [alice, bob] = await Promise.all([
    registerUser(server.api, "Alice Csrf"),
    registerUser(server.api, "Bob Csrf"),
  ]);
  chatId = await chatBetween(server.api, alice, bob);
});
afterAll(async () => {
  await server.stop();
});

/** A POST exactly as given: fetch sets the form and multipart content types itself. */
function post(path: string, body: RequestInit["body"], headers: Record<string, string> = {}) {
  return fetch(new URL(path, server.url), { method: "POST", body, headers });
}

function count(collection: string, filter: Record<string, unknown>): Promise<number> {
  return server.db.connection.collection(collection).countDocuments(filter);
}

function form(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams(fields);
}

function multipart(fields: Record<string, string>): FormData {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) data.append(key, value);
  return data;
}

async function expectUnsupported(response: Response): Promise<void> {
  expect(response.status).toBe(415);
  expect(await response.json()).toEqual({
    message: expect.any(String),
    code: "UNSUPPORTED_MEDIA_TYPE",
  });
}

async function expectForbidden(response: Response): Promise<void> {
  expect(response.status).toBe(403);
  expect(await response.json()).toEqual({ message: expect.any(String), code: "FORBIDDEN" });
}

const encodings = [
  ["form-urlencoded", form],
  ["multipart", multipart],
] as const;

describe("bodies are JSON only: anything else → 415, nothing parsed, nothing stored", () => {
  for (const [name, encode] of encodings) {
    test(`a ${name} message, with the cookie from an allowed page or a Bearer token`, async () => {
      const text = `forged ${name} ${crypto.randomUUID()}`;
      const path = `/api/messages/chat/${chatId}`;
      await expectUnsupported(
        await post(path, encode({ text }), { cookie: `token=${alice.token}`, origin: ALLOWED }),
      );
      await expectUnsupported(
        await post(path, encode({ text }), { authorization: `Bearer ${alice.token}` }),
      );
      expect(await count("messages", { text })).toBe(0);
    });

    test(`a ${name} interview session`, async () => {
      const problem = `forged ${name} ${crypto.randomUUID()}`;
      const fields = { problem, difficulty: "easy" };
      await expectUnsupported(
        await post("/api/sessions", encode(fields), {
          cookie: `token=${alice.token}`,
          origin: ALLOWED,
        }),
      );
      expect(await count("sessions", { problem })).toBe(0);
    });

    test(`a ${name} register and login (login CSRF): no account, no cookie`, async () => {
      const email = `forged.${crypto.randomUUID().slice(0, 8)}@example.com`;
      const password = "correct horse battery";
      const registered = await post("/api/auth/register", encode({ name: "F", email, password }));
      expect(registered.headers.getSetCookie()).toEqual([]);
      await expectUnsupported(registered);
      expect(await count("users", { email })).toBe(0);

      const loggedIn = await post(
        "/api/auth/login",
        encode({ email: alice.email, password: "correct horse battery" }),
        { origin: SAME_SITE_OTHER_PORT },
      );
      expect(loggedIn.headers.getSetCookie()).toEqual([]);
      await expectUnsupported(loggedIn);
    });
  }

  test("text/plain (a form's third encoding) and a body with no Content-Type → 415", async () => {
    const text = `forged plain ${crypto.randomUUID()}`;
    const path = `/api/messages/chat/${chatId}`;
    const json = JSON.stringify({ text });
    await expectUnsupported(
      await post(path, json, {
        authorization: `Bearer ${alice.token}`,
        "content-type": "text/plain",
      }),
    );
    // A Blob with no type: fetch sends no Content-Type at all.
    await expectUnsupported(
      await post(path, new Blob([json]), { authorization: `Bearer ${alice.token}` }),
    );
    expect(await count("messages", { text })).toBe(0);
    // JSON with a charset is JSON.
    const ok = await post(path, json, {
      authorization: `Bearer ${alice.token}`,
      "content-type": "application/json; charset=utf-8",
    });
    expect(ok.status).toBe(201);
  });
});

describe("a change authenticated by the cookie alone needs an allowed Origin", () => {
  const send = (text: string, headers: Record<string, string>) =>
    post(`/api/messages/chat/${chatId}`, JSON.stringify({ text }), {
      "content-type": "application/json",
      ...headers,
    });

  test("a foreign Origin or none → 403 and nothing stored; an allowed Origin → 201", async () => {
    const cookie = `token=${alice.token}`;
    const foreign = `foreign ${crypto.randomUUID()}`;
    await expectForbidden(await send(foreign, { cookie, origin: SAME_SITE_OTHER_PORT }));
    await expectForbidden(await send(foreign, { cookie, origin: "null" }));
    await expectForbidden(await send(foreign, { cookie }));
    expect(await count("messages", { text: foreign })).toBe(0);

    const allowed = await send(`allowed ${crypto.randomUUID()}`, { cookie, origin: ALLOWED });
    expect(allowed.status).toBe(201);
  });

  test("the server's own pages (e.g. /swagger) count as allowed", async () => {
    const cookie = `token=${alice.token}`;
    await expectForbidden(await send("not own", { cookie, origin: SAME_SITE_OTHER_PORT }));
    const own = await send(`own ${crypto.randomUUID()}`, { cookie, origin: server.url });
    expect(own.status).toBe(201);
  });

  test("a Bearer token is no ambient credential: no Origin (native apps) or any Origin works", async () => {
    const cookieOnly = await send("cookie only", { cookie: `token=${alice.token}` });
    await expectForbidden(cookieOnly);
    const native = await send(`native ${crypto.randomUUID()}`, {
      authorization: `Bearer ${alice.token}`,
    });
    expect(native.status).toBe(201);
    // Even with the cookie alongside: the header is what authenticates.
    const both = await send(`both ${crypto.randomUUID()}`, {
      authorization: `Bearer ${alice.token}`,
      cookie: `token=${alice.token}`,
      origin: SAME_SITE_OTHER_PORT,
    });
    expect(both.status).toBe(201);
  });

  test("interview sessions: a foreign Origin → 403 and no session", async () => {
    const problem = `foreign ${crypto.randomUUID()}`;
    await expectForbidden(
      await post("/api/sessions", JSON.stringify({ problem, difficulty: "easy" }), {
        "content-type": "application/json",
        cookie: `token=${alice.token}`,
        origin: SAME_SITE_OTHER_PORT,
      }),
    );
    expect(await count("sessions", { problem })).toBe(0);
  });

  test("reads are not changes: a cookie-only GET from anywhere is answered (CORS hides it from the page)", async () => {
    const res = await fetch(`${server.url}/api/auth/me`, {
      headers: { cookie: `token=${alice.token}`, origin: SAME_SITE_OTHER_PORT },
    });
    expect(res.status).toBe(200);
    // …while the same cookie cannot change anything from there.
    await expectForbidden(
      await post("/api/auth/logout", undefined, {
        cookie: `token=${alice.token}`,
        origin: SAME_SITE_OTHER_PORT,
      }),
    );
    expect((await server.api("/api/auth/me", { token: alice.token })).status).toBe(200);
  });

  test("logout with the cookie from a foreign page → 403: the sign-in stands and the cookie stays", async () => {
    const user = await registerUser(server.api, "Logout Forged");
    const res = await post("/api/auth/logout", undefined, {
      cookie: `token=${user.token}`,
      origin: SAME_SITE_OTHER_PORT,
    });
    expect(res.headers.getSetCookie()).toEqual([]);
    await expectForbidden(res);
    expect((await server.api("/api/auth/me", { token: user.token })).status).toBe(200);
  });

  test("register and login authenticate by password, not by the cookie: a stale cookie does not block them", async () => {
    const user = await registerUser(server.api, "Login Again");
    const body = JSON.stringify({ email: user.email, password: "correct horse battery" });
    const headers = { "content-type": "application/json", cookie: `token=${bob.token}` };
    // A native app whose cookie jar still holds someone's cookie, and sends no Origin.
    expect((await post("/api/auth/login", body, headers)).status).toBe(200);
    // The same JSON from a page cannot be sent cross-origin: it needs a preflight, refused here.
    const preflight = await fetch(`${server.url}/api/auth/login`, {
      method: "OPTIONS",
      headers: {
        origin: SAME_SITE_OTHER_PORT,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).not.toBe(SAME_SITE_OTHER_PORT);
    // And what a page can send without one is not JSON.
    await expectUnsupported(
      await post("/api/auth/login", body, { "content-type": "text/plain", cookie: headers.cookie }),
    );
  });

  test("the Clerk webhook (server to server: no cookie, no Origin) still works; as a form it does not", async () => {
    const id = `user_${crypto.randomUUID().replaceAll("-", "")}`;
    const body = JSON.stringify({
      type: "user.created",
      object: "event",
      data: clerkUserJson({ id, email: `${id}@example.com`, firstName: "Hook" }),
      timestamp: Date.now(),
      instance_id: "ins_test",
    });
    const signed = await signWebhook(SECRET, body);
    const asForm = await post("/api/webhooks/clerk", body, {
      ...signed,
      "content-type": "application/x-www-form-urlencoded",
    });
    await expectUnsupported(asForm);
    expect(await count("users", { clerkId: id })).toBe(0);
    const res = await post("/api/webhooks/clerk", body, signed);
    expect(res.status).toBe(200);
    expect(await count("users", { clerkId: id })).toBe(1);
  });
});

describe("a WebSocket opened with the cookie alone needs an allowed Origin", () => {
  test("no Origin → 403; an allowed Origin opens; ?token= needs none", async () => {
    const cookie = `token=${alice.token}`;
    expect(await upgradeStatus(`${server.url}/ws`, { cookie })).toBe(403);
    expect(await upgradeStatus(`${server.url}/ws`, { cookie, origin: SAME_SITE_OTHER_PORT })).toBe(
      403,
    );
    const fromPage = new WebSocket(`${server.url.replace("http", "ws")}/ws`, {
      headers: { cookie, origin: ALLOWED },
    } as unknown as string[]);
    const first = await new Promise<string>((resolve, reject) => {
      fromPage.onmessage = (message) => resolve(JSON.parse(String(message.data)).event);
      fromPage.onerror = () => reject(new Error("the allowed origin was refused"));
    });
    expect(first).toBe("online-users");
    fromPage.close();
    const native = await openSocket(`${server.url.replace("http", "ws")}/ws?token=${alice.token}`);
    await native.next("online-users");
    await native.close();
  });

  test("an explicit ?token= comes before the cookie: a native app's jar does not block it, a page cannot borrow the cookie with it", async () => {
    const carol = await registerUser(server.api, "Carol Csrf");
    const alicesOwn = await chatBetween(server.api, alice, carol);
    const ws = (token: string, headers: Record<string, string>) =>
      new WebSocket(`${server.url.replace("http", "ws")}/ws?token=${token}`, {
        headers,
      } as unknown as string[]);
    const joined = (socket: WebSocket) =>
      new Promise<string>((resolve, reject) => {
        socket.onopen = () => socket.send(JSON.stringify({ event: "join-chat", data: alicesOwn }));
        socket.onmessage = (message) => {
          const frame = JSON.parse(String(message.data));
          if (frame.event === "chat-joined") resolve("joined");
          if (frame.event === "socket-error") resolve(frame.data.code);
        };
        socket.onclose = (event) => reject(new Error(`closed ${event.code}`));
      });

    // A native app whose cookie jar holds the cookie, sending its token and no Origin.
    const native = ws(alice.token, { cookie: `token=${alice.token}` });
    expect(await joined(native)).toBe("joined");
    native.close();
    // A foreign page with the visitor's (Alice's) cookie and a token of its own (Bob's): the
    // socket is Bob's, who may not join Alice's chat.
    const borrowed = ws(bob.token, {
      cookie: `token=${alice.token}`,
      origin: SAME_SITE_OTHER_PORT,
    });
    expect(await joined(borrowed)).toBe("NOT_FOUND");
    borrowed.close();
  });
});
