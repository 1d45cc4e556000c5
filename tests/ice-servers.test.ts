import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  allocate,
  type Coturn,
  describeWithCoturn,
  restCredential,
  startCoturn,
} from "./support/turn.ts";
import { registerUser, type TestUser } from "./support/users.ts";

/**
 * `GET /api/call/ice-servers`: the STUN servers, and TURN with a credential of the caller's own by
 * the TURN REST API scheme, which a real coturn with `use-auth-secret` accepts while it is valid.
 */
const SECRET = "ice-test-turn-secret-4f1c9a";

/** The TURN REST API credential, with Web Crypto rather than the server's node:crypto. */
async function expectedCredential(secret: string, username: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(username));
  return Buffer.from(mac).toString("base64");
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe("GET /api/call/ice-servers", () => {
  let plain: TestApp;
  let configured: TestApp;

  beforeAll(async () => {
    [plain, configured] = await Promise.all([
      startTestApp(),
      startTestApp({
        STUN_URLS: "stun:stun1.example.org:3478, stun:stun2.example.org:19302",
        TURN_URLS: "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349",
        TURN_SECRET: SECRET,
        TURN_TTL: "3600",
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), configured?.stop()]);
  });

  test("none configured: an empty list, and the default ttl of a day", async () => {
    const user = await registerUser(plain.api);
    const res = await plain.api("/api/call/ice-servers", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ iceServers: [], ttl: 86_400 });
  });

  test("STUN as configured; TURN with `<expiry>:<userId>` and its HMAC-SHA1, valid TURN_TTL seconds", async () => {
    const user = await registerUser(configured.api);
    const before = nowSeconds();
    const res = await configured.api("/api/call/ice-servers", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.ttl).toBe(3600);
    const [stun, turn, ...rest] = res.body.iceServers;
    expect(rest).toEqual([]);
    expect(stun).toEqual({ urls: ["stun:stun1.example.org:3478", "stun:stun2.example.org:19302"] });
    expect(turn.urls).toEqual([
      "turn:turn.example.org:3478?transport=udp",
      "turns:turn.example.org:5349",
    ]);
    const [expiry, userId, ...more] = turn.username.split(":");
    expect(more).toEqual([]);
    expect(userId).toBe(user.id);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 3600);
    expect(Number(expiry)).toBeLessThanOrEqual(nowSeconds() + 3600);
    expect(turn.credential).toBe(await expectedCredential(SECRET, turn.username));
  });

  test("each caller gets a credential of their own; without a token 401", async () => {
    const [ada, bob] = await Promise.all([
      registerUser(configured.api),
      registerUser(configured.api),
    ]);
    const [forAda, forBob] = await Promise.all(
      [ada, bob].map((u) => configured.api("/api/call/ice-servers", { token: u.token })),
    );
    expect(forAda!.body.iceServers[1].username).toEndWith(`:${ada.id}`);
    expect(forBob!.body.iceServers[1].username).toEndWith(`:${bob.id}`);
    expect(forAda!.body.iceServers[1].credential).not.toBe(forBob!.body.iceServers[1].credential);

    const anonymous = await configured.api("/api/call/ice-servers");
    expect(anonymous.status).toBe(401);
  });

  test("it is in the OpenAPI document", async () => {
    const spec = await plain.api("/swagger/json");
    const route = spec.body.paths["/api/call/ice-servers"].get;
    expect(Object.keys(route.responses).sort()).toEqual(["200", "401", "503"]);
  });
});

describeWithCoturn("the credential against a real coturn (use-auth-secret)", () => {
  let coturn: Coturn;
  let app: TestApp;
  let user: TestUser;

  beforeAll(async () => {
    coturn = await startCoturn(SECRET);
    app = await startTestApp({
      TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp`,
      TURN_SECRET: SECRET,
      TURN_TTL: "600",
    });
    user = await registerUser(app.api);
  });
  afterAll(async () => {
    await app?.stop();
    await coturn?.stop();
  });

  async function handedOut(): Promise<{ username: string; credential: string; port: number }> {
    const res = await app.api("/api/call/ice-servers", { token: user.token });
    expect(res.status).toBe(200);
    const [turn] = res.body.iceServers;
    const port = Number(/^turn:127\.0\.0\.1:(\d+)/.exec(turn.urls[0])?.[1]);
    return { username: turn.username, credential: turn.credential, port };
  }

  test("an allocation with the handed-out credential succeeds", async () => {
    const { username, credential, port } = await handedOut();
    expect(port).toBe(coturn.port);
    const result = await allocate(coturn, { username, password: credential });
    if (!result.ok) console.error(coturn.log().slice(-2000));
    expect(result).toMatchObject({ ok: true });
    if (result.ok) {
      expect(result.relayedAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(result.lifetimeSeconds).toBeGreaterThan(0);
    }
  });

  test("a wrong credential is refused (401)", async () => {
    const { username, credential } = await handedOut();
    const wrongPassword = await allocate(coturn, {
      username,
      password: `${credential.slice(0, -2)}AA`,
    });
    expect(wrongPassword).toMatchObject({ ok: false, code: 401 });
    // Another user's name with this user's credential.
    const [expiry] = username.split(":");
    const borrowed = await allocate(coturn, {
      username: `${expiry}:000000000000000000000000`,
      password: credential,
    });
    expect(borrowed).toMatchObject({ ok: false, code: 401 });
    // Signed with another secret.
    const forged = restCredential("not-the-secret", user.id, nowSeconds() + 600);
    expect(await allocate(coturn, forged)).toMatchObject({ ok: false, code: 401 });
  });

  test("an expired credential is refused (401), though correctly signed", async () => {
    // The handed-out username with its expiry moved into the past, signed with the secret: coturn
    // reads the expiry where the server puts it, and refuses it.
    const { username } = await handedOut();
    const [, userId] = username.split(":");
    expect(userId).toBe(user.id);
    const expired = restCredential(SECRET, userId!, nowSeconds() - 5);
    expect(await allocate(coturn, expired)).toMatchObject({ ok: false, code: 401 });
    // The same, still valid, is accepted: only the expiry differs.
    const valid = restCredential(SECRET, userId!, nowSeconds() + 60);
    expect(await allocate(coturn, valid)).toMatchObject({ ok: true });
  });
});
