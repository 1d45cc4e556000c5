import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decodeJwt, SignJWT } from "jose";
import { Types } from "mongoose";
import { startTestApp, type TestApp } from "./support/app.ts";
import { registerUser } from "./support/users.ts";

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

const PASSWORD = "correct horse battery";

function uniqueEmail(tag = "user"): string {
  return `${tag}.${crypto.randomUUID().slice(0, 8)}@example.com`;
}

function register(body: unknown) {
  return server.api("/api/auth/register", { method: "POST", body });
}

function login(body: unknown) {
  return server.api("/api/auth/login", { method: "POST", body });
}

function tokenCookie(headers: Headers): string | undefined {
  return headers.getSetCookie().find((c) => c.startsWith("token="));
}

function expectNoSecrets(body: unknown) {
  const text = JSON.stringify(body);
  expect(text).not.toContain("passwordHash");
  expect(text).not.toContain("$argon2");
  expect(text).not.toContain(PASSWORD);
}

describe("register", () => {
  test("creates the account: 201 { user, token }, email trimmed and lowercased, name trimmed", async () => {
    const email = uniqueEmail("Ann");
    const res = await register({
      name: "  Ann Lee  ",
      email: `  ${email.toUpperCase()} `,
      password: PASSWORD,
    });
    expect(res.status).toBe(201);
    expect(res.body.user).toEqual({
      _id: expect.stringMatching(/^[0-9a-f]{24}$/),
      name: "Ann Lee",
      email: email.toLowerCase(),
      avatar: "",
      role: "candidate",
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(new Date(res.body.user.createdAt).toISOString()).toBe(res.body.user.createdAt);
    expect(res.body.token).toBeString();
    expectNoSecrets(res.body);
  });

  test("sets the httpOnly token cookie: SameSite=Lax, Path=/, 7 days, not Secure outside production", async () => {
    const res = await register({ name: "Cookie", email: uniqueEmail(), password: PASSWORD });
    const cookie = tokenCookie(res.headers);
    expect(cookie).toBeDefined();
    expect(cookie).toContain(`token=${res.body.token}`);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(cookie).toContain("Path=/");
    expect(cookie).toContain(`Max-Age=${7 * 24 * 60 * 60}`);
    expect(cookie).not.toContain("Secure");
  });

  test("the token is an HS256 JWT for this user, valid 7 days", async () => {
    const res = await register({ name: "Claims", email: uniqueEmail(), password: PASSWORD });
    const [header, payload] = res.body.token
      .split(".")
      .slice(0, 2)
      .map((part: string) => JSON.parse(Buffer.from(part, "base64url").toString()));
    expect(header.alg).toBe("HS256");
    expect(payload.sub).toBe(res.body.user._id);
    expect(payload.exp - payload.iat).toBe(7 * 24 * 60 * 60);
  });

  test("a duplicate email → 409 EMAIL_TAKEN, whatever its case", async () => {
    const email = uniqueEmail();
    expect((await register({ name: "First", email, password: PASSWORD })).status).toBe(201);
    const again = await register({
      name: "Second",
      email: email.toUpperCase(),
      password: PASSWORD,
    });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ message: expect.any(String), code: "EMAIL_TAKEN" });
  });

  test("two registrations of one email at the same moment: one 201, one 409", async () => {
    const email = uniqueEmail("race");
    const results = await Promise.all(
      ["A", "B", "C"].map((name) => register({ name, email, password: PASSWORD })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409]);
    expect(results.find((r) => r.status === 409)!.body.code).toBe("EMAIL_TAKEN");
  });

  test.each([
    ["name", { name: "x".repeat(51), email: "ok@example.com", password: PASSWORD }],
    ["name", { name: "   ", email: "ok@example.com", password: PASSWORD }],
    ["name", { email: "ok@example.com", password: PASSWORD }],
    ["email", { name: "Bad", email: "not-an-email", password: PASSWORD }],
    ["email", { name: "Bad", email: "a b@example.com", password: PASSWORD }],
    ["password", { name: "Bad", email: "ok@example.com", password: "short" }],
    ["password", { name: "Bad", email: "ok@example.com", password: "p".repeat(129) }],
  ])("an invalid %s → 400 VALIDATION naming the field", async (field, body) => {
    const res = await register(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("VALIDATION");
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(field);
  });

  test("an operator in place of the email → 400, never reaching the database", async () => {
    const res = await register({ name: "Op", email: { $gt: "" }, password: PASSWORD });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain("email");
  });
});

describe("login", () => {
  test("200 { user, token } and the cookie, for the right password and any case of the email", async () => {
    const user = await registerUser(server.api, "Login Right");
    const res = await login({ email: ` ${user.email.toUpperCase()} `, password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body.user._id).toBe(user.id);
    expect(res.body.token).toBeString();
    expect(tokenCookie(res.headers)).toContain("HttpOnly");
    expectNoSecrets(res.body);
    const me = await server.api("/api/auth/me", { token: res.body.token });
    expect(me.body.user._id).toBe(user.id);
  });

  test("a wrong password and an unknown email → the same 401", async () => {
    const user = await registerUser(server.api, "Login Wrong");
    const wrong = await login({ email: user.email, password: "not the password" });
    const unknown = await login({ email: uniqueEmail("nobody"), password: PASSWORD });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual({ message: expect.any(String), code: "UNAUTHORIZED" });
    expect(unknown.body).toEqual(wrong.body);
    expect(tokenCookie(wrong.headers)).toBeUndefined();
  });

  test('{"email": {"$gt": ""}} → 400 and nobody is logged in', async () => {
    await registerUser(server.api, "Injection Target");
    const res = await login({ email: { $gt: "" }, password: { $gt: "" } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("VALIDATION");
    expect(res.body.token).toBeUndefined();
    expect(tokenCookie(res.headers)).toBeUndefined();
  });
});

describe("guessing passwords", () => {
  test("a burst of logins for one email → 429 RATE_LIMITED with Retry-After; other emails unaffected", async () => {
    const target = await registerUser(server.api);
    const bystander = await registerUser(server.api);
    const attempts = await Promise.all(
      Array.from({ length: 15 }, () => login({ email: target.email, password: "wrong password" })),
    );
    const limited = attempts.filter((r) => r.status === 429);
    expect(attempts.filter((r) => r.status === 401).length).toBe(10);
    expect(limited.length).toBe(5);
    expect(limited[0]!.body).toMatchObject({ code: "RATE_LIMITED" });
    expect(Number(limited[0]!.headers.get("retry-after"))).toBeGreaterThan(0);
    // While throttled, even the right password is not checked.
    const right = await login({ email: target.email, password: "correct horse battery" });
    expect(right.status).toBe(429);
    const other = await login({ email: bystander.email, password: "correct horse battery" });
    expect(other.status).toBe(200);
  });
});

describe("me and logout", () => {
  test("GET /api/auth/me with a Bearer token → { user }", async () => {
    const user = await registerUser(server.api, "Me Bearer");
    const res = await server.api("/api/auth/me", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ _id: user.id, name: user.name, email: user.email });
    expectNoSecrets(res.body);
  });

  test("the cookie alone authenticates", async () => {
    const user = await registerUser(server.api, "Me Cookie");
    const res = await server.api("/api/auth/me", { headers: { cookie: `token=${user.token}` } });
    expect(res.status).toBe(200);
    expect(res.body.user._id).toBe(user.id);
  });

  test("a ?token= query does not authenticate a plain HTTP request", async () => {
    const user = await registerUser(server.api, "Me Query");
    const res = await server.api(`/api/auth/me?token=${user.token}`);
    expect(res.status).toBe(401);
  });

  test("no token → 401 UNAUTHORIZED", async () => {
    const res = await server.api("/api/auth/me");
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ message: expect.any(String), code: "UNAUTHORIZED" });
  });

  test("logout → 204 and clears the cookie", async () => {
    const user = await registerUser(server.api, "Logout");
    const res = await server.api("/api/auth/logout", {
      method: "POST",
      // The cookie alone authenticates it, so it must come from an allowed page.
      headers: { cookie: `token=${user.token}`, origin: "http://localhost:5173" },
    });
    expect(res.status).toBe(204);
    const cookie = tokenCookie(res.headers);
    expect(cookie).toMatch(/^token=;/);
    expect(cookie).toContain("Max-Age=0");
    expect(cookie).toContain("Path=/");
    expect(cookie).toContain("HttpOnly");
  });
});

describe("built-in tokens that must not work", () => {
  async function forge(claims: Record<string, unknown>, secret: string, expiresIn = 3600) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer("interview-chat-server")
      .setIssuedAt(now - 10)
      .setExpirationTime(now + expiresIn)
      .sign(new TextEncoder().encode(secret));
  }

  test("a tampered payload → 401", async () => {
    const a = await registerUser(server.api, "Tamper A");
    const b = await registerUser(server.api, "Tamper B");
    const [header, payload, signature] = a.token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    const swapped = Buffer.from(JSON.stringify({ ...claims, sub: b.id })).toString("base64url");
    const res = await server.api("/api/auth/me", { token: `${header}.${swapped}.${signature}` });
    expect(res.status).toBe(401);
  });

  /** The claims of a genuine token: its user and its (live) sign-in session. */
  const claimsOf = (token: string) => {
    const { sub, sid } = decodeJwt(token);
    return { sub, sid };
  };

  test("signed with another secret → 401", async () => {
    const user = await registerUser(server.api, "Other Secret");
    const token = await forge(claimsOf(user.token), "not-the-server-secret-not-the-server-secret");
    expect((await server.api("/api/auth/me", { token })).status).toBe(401);
  });

  test("expired → 401", async () => {
    const user = await registerUser(server.api, "Expired");
    const token = await forge(claimsOf(user.token), server.config.jwtSecret, -60);
    const res = await server.api("/api/auth/me", { token });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("UNAUTHORIZED");
  });

  test("the same claims with the server's secret do work (the forgeries above fail for their flaw)", async () => {
    const user = await registerUser(server.api, "Control");
    const token = await forge(claimsOf(user.token), server.config.jwtSecret);
    expect((await server.api("/api/auth/me", { token })).status).toBe(200);
  });

  test("alg none, garbage and a malformed Authorization header → 401", async () => {
    const user = await registerUser(server.api, "None Alg");
    const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: user.id })).toString("base64url")}.`;
    for (const token of [unsigned, "garbage", "a.b.c"]) {
      expect((await server.api("/api/auth/me", { token })).status).toBe(401);
    }
    const basic = await server.api("/api/auth/me", {
      headers: { authorization: `Basic ${user.token}` },
    });
    expect(basic.status).toBe(401);
  });

  test("a token whose user no longer exists → 401", async () => {
    const user = await registerUser(server.api, "Gone");
    await server.db.connection.collection("users").deleteOne({ _id: new Types.ObjectId(user.id) });
    const res = await server.api("/api/auth/me", { token: user.token });
    expect(res.status).toBe(401);
    expect(res.body.message).toContain("no longer exists");
  });
});

describe("callback for a built-in user", () => {
  test("returns the stored user: there is nothing in Clerk to sync", async () => {
    const user = await registerUser(server.api, "Callback Builtin");
    const res = await server.api("/api/auth/callback", { method: "POST", token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.user._id).toBe(user.id);
  });
});
