import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { registerUser, type TestUser } from "./support/users.ts";

let server: TestApp;
let caller: TestUser;

async function registerAs(name: string, email: string): Promise<string> {
  const res = await server.api("/api/auth/register", {
    method: "POST",
    body: { name, email, password: "correct horse battery" },
  });
  expect(res.status).toBe(201);
  return res.body.user._id;
}

function list(query = "", token = caller.token) {
  return server.api(`/api/users${query}`, { token });
}

const names = (res: { body: { users: { name: string }[] } }) =>
  res.body.users.map((u) => u.name).sort();

beforeAll(async () => {
  server = await startTestApp();
  caller = await registerUser(server.api, "Caller");
  await registerAs("Alice Smith", "alice@example.com");
  await registerAs("alan turing", "turing@example.com");
  await registerAs("Bob Stone", "bob@ALgebra.example.com");
  await registerAs("C.J. (dot)", "cj@example.com");
  await registerAs("Cxj Other", "cxj@example.com");
});
afterAll(async () => {
  await server.stop();
});

describe("GET /api/users", () => {
  test("everyone but the caller, without password hashes", async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(names(res)).toEqual([
      "Alice Smith",
      "Bob Stone",
      "C.J. (dot)",
      "Cxj Other",
      "alan turing",
    ]);
    expect(res.body.users.map((u: { _id: string }) => u._id)).not.toContain(caller.id);
    expect(JSON.stringify(res.body)).not.toContain("passwordHash");
    expect(res.body.users[0]).toEqual({
      _id: expect.any(String),
      name: expect.any(String),
      email: expect.any(String),
      avatar: "",
      role: "candidate",
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
  });

  test("q is a case-insensitive prefix of the name or the email", async () => {
    expect(names(await list("?q=al"))).toEqual(["Alice Smith", "alan turing"]);
    expect(names(await list("?q=AL"))).toEqual(["Alice Smith", "alan turing"]);
    expect(names(await list("?q=TUR"))).toEqual(["alan turing"]);
    expect(names(await list("?q=bob%40al"))).toEqual(["Bob Stone"]);
  });

  test("q is a prefix, not a substring", async () => {
    expect(names(await list("?q=smith"))).toEqual([]);
    expect(names(await list("?q=example"))).toEqual([]);
  });

  test("regex metacharacters in q are taken literally", async () => {
    expect(names(await list(`?q=${encodeURIComponent("C.J")}`))).toEqual(["C.J. (dot)"]);
    expect(names(await list(`?q=${encodeURIComponent("C.")}`))).toEqual(["C.J. (dot)"]);
    expect(names(await list(`?q=${encodeURIComponent(".*")}`))).toEqual([]);
    expect(names(await list(`?q=${encodeURIComponent("C.J. (")}`))).toEqual(["C.J. (dot)"]);
    expect((await list(`?q=${encodeURIComponent("[(")}`)).status).toBe(200);
  });

  test("the caller is excluded from search results too", async () => {
    expect(names(await list("?q=caller"))).toEqual([]);
  });

  test("limit caps the count; default 50, 1–100 accepted, anything else → 400", async () => {
    expect((await list("?limit=2")).body.users).toHaveLength(2);
    expect((await list("?limit=100")).status).toBe(200);
    for (const bad of ["0", "101", "-1", "abc", "1.5"]) {
      const res = await list(`?limit=${bad}`);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("VALIDATION");
    }
    const nonNumeric = await list("?limit=abc");
    expect(nonNumeric.body.errors.map((e: { path: string }) => e.path)).toContain("limit");
  });

  test("the default limit is 50", async () => {
    const other = await startTestApp();
    try {
      const me = await registerUser(other.api, "Many Caller");
      await Promise.all(Array.from({ length: 52 }, (_, i) => registerUser(other.api, `Many ${i}`)));
      const res = await other.api("/api/users", { token: me.token });
      expect(res.body.users).toHaveLength(50);
      const all = await other.api("/api/users?limit=100", { token: me.token });
      expect(all.body.users).toHaveLength(52);
    } finally {
      await other.stop();
    }
  }, 30_000);

  test("no token → 401", async () => {
    const res = await server.api("/api/users");
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("UNAUTHORIZED");
  });
});

describe("GET /api/users/:id", () => {
  test("→ { user }", async () => {
    const id = await registerAs("Dora", `dora.${crypto.randomUUID().slice(0, 6)}@example.com`);
    const res = await server.api(`/api/users/${id}`, { token: caller.token });
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ _id: id, name: "Dora" });
    expect(JSON.stringify(res.body)).not.toContain("passwordHash");
  });

  test("the caller can read themselves", async () => {
    const res = await server.api(`/api/users/${caller.id}`, { token: caller.token });
    expect(res.body.user._id).toBe(caller.id);
  });

  test("a malformed id → 400 VALIDATION", async () => {
    const res = await server.api("/api/users/not-an-id", { token: caller.token });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("VALIDATION");
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain("id");
  });

  test("an unknown id → 404 NOT_FOUND", async () => {
    const res = await server.api("/api/users/0123456789abcdef01234567", { token: caller.token });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ message: expect.any(String), code: "NOT_FOUND" });
  });

  test("no token → 401", async () => {
    expect((await server.api(`/api/users/${caller.id}`)).status).toBe(401);
  });
});

describe("roles and PATCH /api/users/me", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app.stop();
  });

  const register = (name: string, role?: string) =>
    app.api("/api/auth/register", {
      body: {
        name,
        email: `${name.toLowerCase()}.${crypto.randomUUID().slice(0, 6)}@example.com`,
        password: "correct horse battery",
        ...(role ? { role } : {}),
      },
    });

  test("everyone is a candidate unless they register as an interviewer", async () => {
    const plain = await register("Plain");
    expect(plain.body.user.role).toBe("candidate");
    const interviewer = await register("Ivy", "interviewer");
    expect(interviewer.status).toBe(201);
    expect(interviewer.body.user.role).toBe("interviewer");
    const me = await app.api("/api/auth/me", { token: interviewer.body.token });
    expect(me.body.user.role).toBe("interviewer");
    const bad = await register("Bad", "admin");
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain("role");
  });

  test("PATCH /me changes the caller's name, picture and role, and nothing else", async () => {
    const res = await register("Pat");
    const token = res.body.token;
    const patched = await app.api("/api/users/me", {
      method: "PATCH",
      token,
      body: { name: "  Patricia ", avatar: "https://img.example/p.png", role: "interviewer" },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.user).toMatchObject({
      _id: res.body.user._id,
      name: "Patricia",
      email: res.body.user.email,
      avatar: "https://img.example/p.png",
      role: "interviewer",
    });
    const roleOnly = await app.api("/api/users/me", {
      method: "PATCH",
      token,
      body: { role: "candidate" },
    });
    expect(roleOnly.body.user).toMatchObject({ name: "Patricia", role: "candidate" });
    const cleared = await app.api("/api/users/me", {
      method: "PATCH",
      token,
      body: { avatar: "" },
    });
    expect(cleared.body.user.avatar).toBe("");
    const me = await app.api("/api/auth/me", { token });
    expect(me.body.user).toMatchObject({ name: "Patricia", avatar: "", role: "candidate" });
  });

  test("PATCH /me: nothing to change, a bad field or an unknown one → 400; no token → 401", async () => {
    const { token } = (await register("Val")).body;
    for (const [body, path] of [
      [{}, undefined],
      [{ name: "   " }, "name"],
      [{ name: "x".repeat(51) }, "name"],
      [{ role: "admin" }, "role"],
      [{ avatar: "javascript:alert(1)" }, "avatar"],
    ] as const) {
      const res = await app.api("/api/users/me", { method: "PATCH", token, body });
      expect({ body, status: res.status, code: res.body.code }).toEqual({
        body,
        status: 400,
        code: "VALIDATION",
      });
      if (path) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    const anonymous = await app.api("/api/users/me", { method: "PATCH", body: { name: "X" } });
    expect(anonymous.status).toBe(401);
  });

  test("GET /api/users?role= lists interviewers or candidates only", async () => {
    const caller = (await register("Chooser")).body.token;
    const ivan = (await register("Ivan", "interviewer")).body.user;
    const cindy = (await register("Cindy")).body.user;
    const interviewers = await app.api("/api/users?role=interviewer&limit=100", { token: caller });
    expect(interviewers.status).toBe(200);
    const interviewerIds = interviewers.body.users.map((u: { _id: string }) => u._id);
    expect(interviewerIds).toContain(ivan._id);
    expect(interviewerIds).not.toContain(cindy._id);
    expect(interviewers.body.users.every((u: { role: string }) => u.role === "interviewer")).toBe(
      true,
    );
    const candidates = await app.api("/api/users?role=candidate&limit=100", { token: caller });
    const candidateIds = candidates.body.users.map((u: { _id: string }) => u._id);
    expect(candidateIds).toContain(cindy._id);
    expect(candidateIds).not.toContain(ivan._id);
    expect((await app.api("/api/users?role=boss", { token: caller })).status).toBe(400);
  });

  test("an account stored before roles existed counts as a candidate", async () => {
    const caller = (await register("Oldtimer")).body.token;
    const legacy = (await register("Legacy")).body.user;
    await app.db.connection
      .collection("users")
      .updateOne({ email: legacy.email }, { $unset: { role: "" } });
    const read = await app.api(`/api/users/${legacy._id}`, { token: caller });
    expect(read.body.user.role).toBe("candidate");
    const candidates = await app.api("/api/users?role=candidate&limit=100", { token: caller });
    expect(candidates.body.users.map((u: { _id: string }) => u._id)).toContain(legacy._id);
  });
});
