import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/app.ts";
import { createLogger } from "../src/plugins/logger.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  type ClerkKeys,
  clerkKeys,
  clerkUserJson,
  type FakeClerkApi,
  FRONTEND_ORIGIN,
  fakeClerkApi,
  sessionToken,
  signWebhook,
  webhookSecret,
} from "./support/fake-clerk.ts";
import { type FakeStream, fakeStream } from "./support/fake-stream.ts";
import { apiClient } from "./support/http.ts";
import { registerUser } from "./support/users.ts";

let keys: ClerkKeys;
let clerkApi: FakeClerkApi;
let stream: FakeStream;
let secret: string;
/** Clerk fully configured: PEM key, authorized parties, Backend API, webhook, and Stream. */
let server: TestApp;

function clerkId(): string {
  return `user_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

function storedUsers(app: TestApp, filter: Record<string, unknown>) {
  return app.db.connection.collection("users").find(filter).toArray();
}

beforeAll(async () => {
  keys = await clerkKeys();
  clerkApi = fakeClerkApi();
  stream = fakeStream();
  secret = webhookSecret();
  server = await startTestApp({
    CLERK_JWT_KEY: keys.publicPem,
    CLERK_AUTHORIZED_PARTIES: `${FRONTEND_ORIGIN},http://localhost:8081`,
    CLERK_SECRET_KEY: clerkApi.secretKey,
    CLERK_API_URL: clerkApi.url,
    CLERK_WEBHOOK_SIGNING_SECRET: secret,
    ...stream.env,
  });
});
afterAll(async () => {
  await server.stop();
  await clerkApi.stop();
  await stream.stop();
});

describe("Clerk session tokens", () => {
  test("a Clerk user unknown to the database is created on first sight, from Clerk's user API", async () => {
    const id = clerkId();
    clerkApi.users.set(id, {
      id,
      email: `Grace.${id}@Example.com`,
      firstName: "Grace",
      lastName: "Hopper",
      imageUrl: "https://img.example/grace.png",
    });
    const token = await sessionToken(keys, id);
    const res = await server.api("/api/auth/me", { token });
    expect(res.status).toBe(200);
    expect(res.body.user).toEqual({
      _id: expect.stringMatching(/^[0-9a-f]{24}$/),
      name: "Grace Hopper",
      email: `grace.${id}@example.com`.toLowerCase(),
      avatar: "https://img.example/grace.png",
      role: "candidate",
      clerkId: id,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const asked = clerkApi.requests.filter((r) => r.path === `/v1/users/${id}`);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.authorized).toBe(true);

    // Known from now on: the same user, and Clerk is not asked again.
    const again = await server.api("/api/auth/me", { token: await sessionToken(keys, id) });
    expect(again.body.user._id).toBe(res.body.user._id);
    expect(clerkApi.requests.filter((r) => r.path === `/v1/users/${id}`)).toHaveLength(1);
  });

  test("five concurrent first requests make exactly one user", async () => {
    const id = clerkId();
    clerkApi.users.set(id, { id, email: `${id}@example.com`, firstName: "Five" });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => sessionToken(keys, id)));
    const results = await Promise.all(tokens.map((token) => server.api("/api/auth/me", { token })));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(results.map((r) => r.body.user._id)).size).toBe(1);
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(1);
  });

  test("concurrent first requests on several instances sharing one database make one user", async () => {
    // Each instance has its own in-process de-duplication; only the database can settle this race.
    const primary = await startTestApp({ CLERK_JWT_KEY: keys.publicPem });
    const others = Array.from({ length: 4 }, () =>
      createApp({ config: primary.config, db: primary.db, log: createLogger("silent") }).listen({
        port: 0,
        hostname: "127.0.0.1",
      }),
    );
    try {
      const apis = [
        primary.api,
        ...others.map((o) => apiClient(`http://127.0.0.1:${o.server!.port}`)),
      ];
      const id = clerkId();
      const token = await sessionToken(keys, id, { claims: { name: "Race" } });
      const results = await Promise.all(apis.map((api) => api("/api/auth/me", { token })));
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(new Set(results.map((r) => r.body.user._id)).size).toBe(1);
      expect(await storedUsers(primary, { clerkId: id })).toHaveLength(1);
    } finally {
      await Promise.all(others.map((o) => o.stop(true)));
      await primary.stop();
    }
  });

  test("a Clerk token works on every authenticated route", async () => {
    const id = clerkId();
    const token = await sessionToken(keys, id);
    const users = await server.api("/api/users", { token });
    expect(users.status).toBe(200);
    const me = await server.api("/api/auth/me", { token });
    expect(users.body.users.map((u: { _id: string }) => u._id)).not.toContain(me.body.user._id);
  });

  test("when Clerk's user API fails, first sight still provisions from the token's claims", async () => {
    const id = clerkId();
    clerkApi.failing = true;
    try {
      const token = await sessionToken(keys, id, {
        claims: { email: `${id}@claims.example.com`, name: "From Claims" },
      });
      const res = await server.api("/api/auth/me", { token });
      expect(res.status).toBe(200);
      expect(res.body.user).toMatchObject({
        clerkId: id,
        name: "From Claims",
        email: `${id}@claims.example.com`,
      });
    } finally {
      clerkApi.failing = false;
    }
  });

  test("an email already held by a built-in account is not merged into a Clerk user: 409", async () => {
    const builtIn = await registerUser(server.api, "Owner");
    const id = clerkId();
    clerkApi.users.set(id, { id, email: builtIn.email, firstName: "Intruder" });
    const res = await server.api("/api/auth/me", { token: await sessionToken(keys, id) });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("EMAIL_TAKEN");
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(0);
    const owner = await server.api("/api/auth/me", { token: builtIn.token });
    expect(owner.body.user.clerkId).toBeUndefined();
  });

  test("expired → 401", async () => {
    const token = await sessionToken(keys, clerkId(), { expiresIn: -120, issuedAgo: 300 });
    const res = await server.api("/api/auth/me", { token });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("UNAUTHORIZED");
  });

  test("signed with another key (same kid) → 401", async () => {
    const other = await clerkKeys(keys.kid);
    const res = await server.api("/api/auth/me", { token: await sessionToken(other, clerkId()) });
    expect(res.status).toBe(401);
  });

  test("an azp outside CLERK_AUTHORIZED_PARTIES → 401; one inside → 200", async () => {
    const id = clerkId();
    const evil = await sessionToken(keys, id, { azp: "https://evil.example" });
    expect((await server.api("/api/auth/me", { token: evil })).status).toBe(401);
    const mobile = await sessionToken(keys, id, { azp: "http://localhost:8081" });
    expect((await server.api("/api/auth/me", { token: mobile })).status).toBe(200);
  });

  test("malformed → 401", async () => {
    const good = await sessionToken(keys, clerkId());
    const [header, payload] = good.split(".");
    for (const token of [
      `${header}.${payload}.`,
      `${header}.${payload}.AAAA`,
      `${header}.garbage.sig`,
    ]) {
      expect((await server.api("/api/auth/me", { token })).status).toBe(401);
    }
  });

  test("a Clerk token on a server without Clerk → 401", async () => {
    const plain = await startTestApp();
    try {
      const res = await plain.api("/api/auth/me", { token: await sessionToken(keys, clerkId()) });
      expect(res.status).toBe(401);
    } finally {
      await plain.stop();
    }
  });
});

describe("claims-only provisioning (CLERK_JWT_KEY without CLERK_SECRET_KEY)", () => {
  let claimsOnly: TestApp;
  beforeAll(async () => {
    claimsOnly = await startTestApp({ CLERK_JWT_KEY: keys.publicPem });
  });
  afterAll(async () => {
    await claimsOnly.stop();
  });

  test("name, email and avatar come from custom session claims", async () => {
    const id = clerkId();
    const token = await sessionToken(keys, id, {
      claims: {
        email: `Ada.${id}@Example.com`,
        first_name: "Ada",
        last_name: "Lovelace",
        image_url: "https://img/ada",
      },
    });
    const res = await claimsOnly.api("/api/auth/me", { token });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({
      clerkId: id,
      name: "Ada Lovelace",
      email: `ada.${id}@example.com`.toLowerCase(),
      avatar: "https://img/ada",
    });
  });

  test("Clerk's default claims (ids only) still make a user, with an empty email", async () => {
    const id = clerkId();
    const res = await claimsOnly.api("/api/auth/me", { token: await sessionToken(keys, id) });
    expect(res.status).toBe(200);
    const { name, ...rest } = res.body.user;
    expect(rest).toMatchObject({ clerkId: id, email: "" });
    expect(name).toBe("New user");
  });

  test("two Clerk users without emails can coexist", async () => {
    const a = await claimsOnly.api("/api/auth/me", { token: await sessionToken(keys, clerkId()) });
    const b = await claimsOnly.api("/api/auth/me", { token: await sessionToken(keys, clerkId()) });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.body.user._id).not.toBe(b.body.user._id);
  });

  test("callback without CLERK_SECRET_KEY returns the stored user", async () => {
    const id = clerkId();
    const token = await sessionToken(keys, id, { claims: { name: "Stored" } });
    const res = await claimsOnly.api("/api/auth/callback", { method: "POST", token });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ clerkId: id, name: "Stored" });
  });
});

describe("POST /api/auth/callback", () => {
  test("syncs the caller from Clerk's user API", async () => {
    const id = clerkId();
    clerkApi.users.set(id, { id, email: `${id}@example.com`, firstName: "Before" });
    const token = await sessionToken(keys, id);
    expect((await server.api("/api/auth/me", { token })).body.user.name).toBe("Before");

    clerkApi.users.set(id, {
      id,
      email: `new.${id}@example.com`,
      firstName: "After",
      imageUrl: "https://img/after",
    });
    const res = await server.api("/api/auth/callback", { method: "POST", token });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({
      clerkId: id,
      name: "After",
      email: `new.${id}@example.com`,
      avatar: "https://img/after",
    });
    expect((await server.api("/api/auth/me", { token })).body.user.name).toBe("After");
  });

  test("502 UPSTREAM when Clerk fails, without Clerk's words", async () => {
    const id = clerkId();
    clerkApi.users.set(id, { id, email: `${id}@example.com`, firstName: "Fails" });
    const token = await sessionToken(keys, id);
    expect((await server.api("/api/auth/me", { token })).status).toBe(200);
    clerkApi.failing = true;
    try {
      const res = await server.api("/api/auth/callback", { method: "POST", token });
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ message: expect.any(String), code: "UPSTREAM" });
      expect(JSON.stringify(res.body)).not.toContain("internal_clerk_error");
    } finally {
      clerkApi.failing = false;
    }
  });

  test("no token → 401", async () => {
    expect((await server.api("/api/auth/callback", { method: "POST" })).status).toBe(401);
  });
});

describe("POST /api/webhooks/clerk", () => {
  async function deliver(
    event: unknown,
    options: { timestamp?: number; id?: string; tamper?: boolean } = {},
  ) {
    const body = JSON.stringify(event);
    const headers = await signWebhook(secret, body, options);
    const sent = options.tamper ? body.replace("user_", "user_X") : body;
    return server.api("/api/webhooks/clerk", { method: "POST", rawBody: sent, headers });
  }

  function userEvent(type: string, user: Parameters<typeof clerkUserJson>[0]) {
    return {
      type,
      object: "event",
      data: clerkUserJson(user),
      timestamp: Date.now(),
      instance_id: "ins_test",
    };
  }

  test("user.created creates the user and the Stream user; user.updated updates both", async () => {
    const id = clerkId();
    const created = await deliver(
      userEvent("user.created", {
        id,
        email: `${id}@example.com`,
        firstName: "Web",
        lastName: "Hook",
      }),
    );
    expect(created.status).toBe(200);
    let [stored] = await storedUsers(server, { clerkId: id });
    expect(stored).toMatchObject({ name: "Web Hook", email: `${id}@example.com` });
    expect(stream.users.get(id)).toMatchObject({ id, name: "Web Hook" });

    const updated = await deliver(
      userEvent("user.updated", {
        id,
        email: `${id}@example.com`,
        firstName: "Renamed",
        imageUrl: "https://img/r",
      }),
    );
    expect(updated.status).toBe(200);
    [stored] = await storedUsers(server, { clerkId: id });
    expect(stored).toMatchObject({ name: "Renamed", avatar: "https://img/r" });
    expect(stream.users.get(id)).toMatchObject({ name: "Renamed", image: "https://img/r" });

    // The user signs in later: the webhook's user is the one they get.
    const me = await server.api("/api/auth/me", { token: await sessionToken(keys, id) });
    expect(me.body.user._id).toBe(String(stored!._id));
  });

  test("a replayed delivery is harmless", async () => {
    const id = clerkId();
    const event = userEvent("user.created", {
      id,
      email: `${id}@example.com`,
      firstName: "Replay",
    });
    const svixId = `msg_${crypto.randomUUID()}`;
    expect((await deliver(event, { id: svixId })).status).toBe(200);
    expect((await deliver(event, { id: svixId })).status).toBe(200);
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(1);
  });

  test("user.deleted removes the user (and the Stream user); a replay is harmless", async () => {
    const id = clerkId();
    await deliver(
      userEvent("user.created", { id, email: `${id}@example.com`, firstName: "Doomed" }),
    );
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(1);
    expect(stream.users.has(id)).toBe(true);
    const event = {
      type: "user.deleted",
      object: "event",
      data: { object: "user", id, deleted: true },
    };
    expect((await deliver(event)).status).toBe(200);
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(0);
    expect(stream.users.has(id)).toBe(false);
    expect((await deliver(event)).status).toBe(200);
  });

  test("user.deleted closes the user's open sockets: a deleted account cannot keep sending", async () => {
    const id = clerkId();
    const token = await sessionToken(keys, id, { claims: { name: "Leaving" } });
    const friend = await registerUser(server.api);
    const chat = await server.api(`/api/chats/with/${friend.id}`, { method: "POST", token });
    const chatId = chat.body.chat._id;
    const socket = await server.socket(token);
    socket.send("send-message", { chatId, text: "still here" });
    await socket.next("message-sent");

    const deleted = {
      type: "user.deleted",
      object: "event",
      data: { object: "user", id, deleted: true },
    };
    expect((await deliver(deleted)).status).toBe(200);
    expect(await socket.closed()).toBe(1008);
  });

  test("other event types → 200, ignored", async () => {
    const res = await deliver({
      type: "session.created",
      object: "event",
      data: { id: "sess_1", user_id: "user_1" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: true, outcome: "ignored" });
  });

  test("a tampered body → 400", async () => {
    const id = clerkId();
    const res = await deliver(userEvent("user.created", { id, email: `${id}@example.com` }), {
      tamper: true,
    });
    expect(res.status).toBe(400);
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(0);
  });

  test("a stale timestamp → 400", async () => {
    const id = clerkId();
    const stale = Math.floor(Date.now() / 1000) - 60 * 60;
    const res = await deliver(userEvent("user.created", { id, email: `${id}@example.com` }), {
      timestamp: stale,
    });
    expect(res.status).toBe(400);
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(0);
  });

  test("signed with another secret, or unsigned → 400", async () => {
    const body = JSON.stringify(userEvent("user.created", { id: clerkId() }));
    const wrong = await server.api("/api/webhooks/clerk", {
      method: "POST",
      rawBody: body,
      headers: await signWebhook(webhookSecret(), body),
    });
    expect(wrong.status).toBe(400);
    const unsigned = await server.api("/api/webhooks/clerk", { method: "POST", rawBody: body });
    expect(unsigned.status).toBe(400);
  });

  test("when Stream fails → 502, and Clerk's retry completes the sync", async () => {
    const id = clerkId();
    const event = userEvent("user.created", { id, email: `${id}@example.com`, firstName: "Retry" });
    stream.failNext("POST /users");
    const first = await deliver(event);
    expect(first.status).toBe(502);
    expect(first.body.code).toBe("UPSTREAM");
    expect(stream.users.has(id)).toBe(false);
    const retry = await deliver(event);
    expect(retry.status).toBe(200);
    expect(stream.users.get(id)).toMatchObject({ name: "Retry" });
    expect(await storedUsers(server, { clerkId: id })).toHaveLength(1);
  });

  test("without CLERK_WEBHOOK_SIGNING_SECRET the route does not exist: 404", async () => {
    const plain = await startTestApp({ CLERK_JWT_KEY: keys.publicPem });
    try {
      const body = JSON.stringify(userEvent("user.created", { id: clerkId() }));
      const res = await plain.api("/api/webhooks/clerk", {
        method: "POST",
        rawBody: body,
        headers: await signWebhook(secret, body),
      });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("NOT_FOUND");
    } finally {
      await plain.stop();
    }
  });
});
