import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeJwt, SignJWT } from "jose";
import { Types } from "mongoose";
import { SIGN_IN_TRUST_MS } from "../src/modules/auth/sign-ins.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  canScaleOut,
  type PrivateRedis,
  privateRedis,
  redisServerInstalled,
  type TwoInstances,
  twoInstances,
} from "./support/cluster.ts";
import type { Api } from "./support/http.ts";
import { type TestMongo, testMongo } from "./support/mongo.ts";
import { registerUser, type TestUser } from "./support/users.ts";
import { type TestSocket, upgradeStatus } from "./support/ws.ts";

/**
 * Built-in tokens name a sign-in session stored on the server. Logging out ends it: the token is
 * refused everywhere from then on, and the sockets it opened close with 1008, on every instance.
 */
const PASSWORD = "correct horse battery";
const ALLOWED = "http://localhost:5173";

async function login(api: Api, user: TestUser): Promise<string> {
  const res = await api("/api/auth/login", { body: { email: user.email, password: PASSWORD } });
  expect(res.status).toBe(200);
  return res.body.token;
}

function logout(api: Api, token?: string) {
  return api("/api/auth/logout", { method: "POST", token });
}

async function me(api: Api, token: string): Promise<number> {
  return (await api("/api/auth/me", { token })).status;
}

function sidOf(token: string): string {
  return String(decodeJwt(token).sid);
}

/** True while the socket answers: a ping comes back as a pong. */
async function answers(socket: TestSocket): Promise<boolean> {
  const ref = crypto.randomUUID();
  socket.send("ping", ref);
  await socket.next("pong", (data) => data === ref);
  return true;
}

describe("one instance", () => {
  let server: TestApp;
  const signIns = () => server.db.connection.collection("signins");

  beforeAll(async () => {
    server = await startTestApp();
  });
  afterAll(async () => {
    await server.stop();
  });

  test("register and login each start a sign-in session, named by the token's sid", async () => {
    const user = await registerUser(server.api, "Two Devices");
    const second = await login(server.api, user);
    const sids = [sidOf(user.token), sidOf(second)];
    expect(sids[0]).not.toBe(sids[1]);
    const stored = await signIns()
      .find({ user: new Types.ObjectId(user.id) })
      .toArray();
    expect(stored.map((s) => String(s._id)).sort()).toEqual([...sids].sort());
    // The sign-in ends with its token.
    const exp = decodeJwt(user.token).exp!;
    const first = stored.find((s) => String(s._id) === sids[0])!;
    expect(Math.floor(first.expiresAt.getTime() / 1000)).toBe(exp);
    expect(await me(server.api, user.token)).toBe(200);
    expect(await me(server.api, second)).toBe(200);
  });

  test("logout ends the token presented: 401 on REST and on the upgrade; other sign-ins stand", async () => {
    const user = await registerUser(server.api, "Logout Ends");
    const other = await login(server.api, user);

    // Without a token logout only clears the cookie: nothing ends.
    const anonymous = await logout(server.api);
    expect(anonymous.status).toBe(204);
    expect(anonymous.headers.getSetCookie().find((c) => c.startsWith("token="))).toMatch(
      /^token=;.*Max-Age=0/,
    );
    expect(await me(server.api, user.token)).toBe(200);

    const res = await logout(server.api, user.token);
    expect(res.status).toBe(204);
    expect(res.headers.getSetCookie().find((c) => c.startsWith("token="))).toMatch(/^token=;/);
    const refused = await server.api("/api/auth/me", { token: user.token });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ message: expect.any(String), code: "UNAUTHORIZED" });
    expect(await upgradeStatus(`${server.url}/ws?token=${user.token}`)).toBe(401);
    // The cookie is no way back in either.
    const byCookie = await server.api("/api/auth/me", {
      headers: { cookie: `token=${user.token}` },
    });
    expect(byCookie.status).toBe(401);

    expect(await me(server.api, other)).toBe(200);
    // Logging out twice is harmless.
    expect((await logout(server.api, user.token)).status).toBe(204);
  });

  test("logout through the cookie ends the cookie's token", async () => {
    const user = await registerUser(server.api, "Cookie Logout");
    const token = await login(server.api, user);
    const res = await server.api("/api/auth/logout", {
      method: "POST",
      headers: { cookie: `token=${token}`, origin: ALLOWED },
    });
    expect(res.status).toBe(204);
    expect(await me(server.api, token)).toBe(401);
    expect(await me(server.api, user.token)).toBe(200);
  });

  test("a socket opened with the token closes with 1008 at logout; one of another sign-in stays", async () => {
    const user = await registerUser(server.api, "Socket Logout");
    const other = await login(server.api, user);
    const ended = await server.socket(user.token);
    const stays = await server.socket(other);
    await Promise.all([ended.next("online-users"), stays.next("online-users")]);

    expect((await logout(server.api, user.token)).status).toBe(204);
    expect(await ended.closed()).toBe(1008);
    expect(await answers(stays)).toBe(true);
    await stays.close();
  });

  test("logout-all ends every sign-in of the user and closes all their sockets, not other users'", async () => {
    const user = await registerUser(server.api, "Everywhere");
    const bystander = await registerUser(server.api, "Bystander");
    const tokens = [user.token, await login(server.api, user), await login(server.api, user)];
    const sockets = await Promise.all(tokens.slice(0, 2).map((t) => server.socket(t)));
    const theirs = await server.socket(bystander.token);

    const res = await server.api("/api/auth/logout-all", { method: "POST", token: tokens[2] });
    expect(res.status).toBe(204);
    for (const socket of sockets) expect(await socket.closed()).toBe(1008);
    for (const token of tokens) {
      expect(await me(server.api, token)).toBe(401);
      expect(await upgradeStatus(`${server.url}/ws?token=${token}`)).toBe(401);
    }
    expect(await signIns().countDocuments({ user: new Types.ObjectId(user.id) })).toBe(0);

    expect(await answers(theirs)).toBe(true);
    expect(await me(server.api, bystander.token)).toBe(200);
    // Signing in again works as ever.
    expect(await me(server.api, await login(server.api, user))).toBe(200);
    await theirs.close();
  });

  test("logout-all needs a valid token", async () => {
    const res = await server.api("/api/auth/logout-all", { method: "POST" });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("UNAUTHORIZED");
  });

  test("a token from before sign-in sessions (no sid) → 401 on REST and on the upgrade", async () => {
    const user = await registerUser(server.api, "Old Token");
    const now = Math.floor(Date.now() / 1000);
    const old = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(user.id)
      .setIssuer("interview-chat-server")
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode(server.config.jwtSecret));
    const res = await server.api("/api/auth/me", { token: old });
    expect(res.status).toBe(401);
    expect(res.body.message).toContain("sign in again");
    expect(await upgradeStatus(`${server.url}/ws?token=${old}`)).toBe(401);
  });

  test("a sign-in past its expiry is refused at once; the TTL index removes it later", async () => {
    const user = await registerUser(server.api, "Expiring");
    await signIns().updateOne(
      { _id: new Types.ObjectId(sidOf(user.token)) },
      { $set: { expiresAt: new Date(Date.now() - 1000) } },
    );
    expect(await me(server.api, user.token)).toBe(401);
    const ttl = (await signIns().indexes()).find((index) => index.key.expiresAt === 1);
    expect(ttl?.expireAfterSeconds).toBe(0);
  });
});

if (!canScaleOut) console.warn("cross-instance logout tests skipped: no Redis and no redis-server");

describe.skipIf(!canScaleOut)("two instances behind one Redis", () => {
  let cluster: TwoInstances;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    cluster = await twoInstances({ JWT_SECRET: "sign-in-sessions-test-secret-0123456789" });
    ({ a, b } = cluster);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("logout on A: its sockets on A and B close with 1008, and B, which trusted it, refuses it", async () => {
    const user = await registerUser(a.api, "Across");
    const other = await login(b.api, user);
    const onA = await a.socket(user.token);
    const onB = await b.socket(user.token);
    const stays = await b.socket(other);
    await Promise.all([onA, onB, stays].map((s) => s.next("online-users")));
    // B has just found this sign-in standing, and remembers it.
    expect(await me(b.api, user.token)).toBe(200);

    expect((await logout(a.api, user.token)).status).toBe(204);
    expect(await me(a.api, user.token)).toBe(401);
    expect(await onA.closed()).toBe(1008);
    expect(await onB.closed()).toBe(1008);
    // The control message that closed B's socket made B forget the sign-in too.
    expect(await me(b.api, user.token)).toBe(401);
    expect(await upgradeStatus(`${b.url}/ws?token=${user.token}`)).toBe(401);
    expect(await answers(stays)).toBe(true);
    await stays.close();
  });

  test("logout-all on B closes the user's sockets on A and B; another user's stay", async () => {
    const user = await registerUser(a.api, "All Across");
    const bystander = await registerUser(b.api, "Bystander Across");
    const second = await login(a.api, user);
    const mine = [await a.socket(user.token), await b.socket(second), await a.socket(second)];
    const theirs = [await a.socket(bystander.token), await b.socket(bystander.token)];
    await Promise.all([...mine, ...theirs].map((s) => s.next("online-users")));

    for (const app of [a, b]) expect(await me(app.api, second)).toBe(200);
    const res = await b.api("/api/auth/logout-all", { method: "POST", token: user.token });
    expect(res.status).toBe(204);
    for (const socket of mine) expect(await socket.closed()).toBe(1008);
    for (const app of [a, b]) {
      expect(await me(app.api, user.token)).toBe(401);
      expect(await me(app.api, second)).toBe(401);
    }
    for (const socket of theirs) expect(await answers(socket)).toBe(true);
    await Promise.all(theirs.map((s) => s.close()));
  });
});

describe.skipIf(!redisServerInstalled)("two instances while Redis is down", () => {
  const ns = `test-${crypto.randomUUID().slice(0, 8)}`;
  let mongo: TestMongo;
  let redis: PrivateRedis;
  let a: TestApp;
  let b: TestApp;

  async function readyBecomes(app: TestApp, status: number): Promise<void> {
    for (let i = 0; i < 100 && (await fetch(`${app.url}/ready`)).status !== status; i++) {
      await Bun.sleep(50);
    }
    expect((await fetch(`${app.url}/ready`)).status).toBe(status);
  }

  beforeAll(async () => {
    mongo = await testMongo();
    redis = await privateRedis();
    const env = { REDIS_URL: redis.url, JWT_SECRET: "sign-in-sessions-test-secret-0123456789" };
    const options = { mongo, realtime: { heartbeatMs: 250, expiryMs: 2000, namespace: ns } };
    [a, b] = await Promise.all([startTestApp(env, options), startTestApp(env, options)]);
    await Promise.all([readyBecomes(a, 200), readyBecomes(b, 200)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.kill();
    await mongo?.stop();
  });

  test("a logout that only A hears: B refuses the token within the trust bound, and its socket there closes once Redis is back", async () => {
    const user = await registerUser(a.api, "Outage");
    const onB = await b.socket(user.token);
    await onB.next("online-users");
    expect(await me(b.api, user.token)).toBe(200);

    await redis.kill();
    await Promise.all([readyBecomes(a, 503), readyBecomes(b, 503)]);
    const loggedOutAt = performance.now();
    expect((await logout(a.api, user.token)).status).toBe(204);
    expect(await me(a.api, user.token)).toBe(401);
    while ((await me(b.api, user.token)) !== 401) {
      expect(performance.now() - loggedOutAt).toBeLessThan(SIGN_IN_TRUST_MS + 2000);
      await Bun.sleep(100);
    }

    await redis.restart();
    // Back in touch, B tells its sockets to reconnect; the revoked token cannot.
    expect(await onB.closed(10_000)).toBe(1012);
    expect(await upgradeStatus(`${b.url}/ws?token=${user.token}`)).toBe(401);
  }, 30_000);
});
