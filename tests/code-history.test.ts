import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { calculateObjectSize, ObjectId } from "bson";
import { diff, patch } from "../src/modules/sessions/code-diff.ts";
import { planChange } from "../src/modules/sessions/code-history.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createSession, sessionAction } from "./support/sessions.ts";
import { registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * The shared editor's history: every accepted code-update kept as a compact change (a diff
 * against the version before, a snapshot now and then), and replayed version by version.
 */

/** A small seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

const CODE_ALPHABET = "abcdefghijklmnopqrstuvwxyz (){};=+\n  ";

function code(next: () => number, length: number): string {
  let text = "";
  while (text.length < length) text += CODE_ALPHABET[Math.floor(next() * CODE_ALPHABET.length)];
  return text;
}

/** One keystroke batch: a few characters typed, deleted or replaced somewhere. */
function edit(next: () => number, text: string): string {
  const at = Math.floor(next() * (text.length + 1));
  const deleted = next() < 0.3 ? 1 + Math.floor(next() * 3) : 0;
  const typed = next() < 0.8 ? code(next, 1 + Math.floor(next() * 5)) : "";
  return text.slice(0, at) + typed + text.slice(at + deleted);
}

describe("diffs", () => {
  test("patch(before, diff(before, after)) is after, for thousands of random pairs", () => {
    const next = random(7);
    for (let i = 0; i < 5000; i++) {
      const before = code(next, Math.floor(next() * 300));
      let after = before;
      for (let e = Math.floor(next() * 6); e > 0; e--) after = edit(next, after);
      if (next() < 0.05) after = code(next, Math.floor(next() * 300));
      expect(patch(before, diff(before, after))).toBe(after);
    }
  });

  test("what a diff holds grows with the change, not with the text or the distance between edits", () => {
    const text = "const x = 1;\n".repeat(800); // 10,400 characters
    expect(diff(text, text)).toBe("");
    const typed = `${text.slice(0, 5200)}abc${text.slice(5200)}`;
    expect(diff(text, typed)).toBe("5200,0,3,abc");
    // Two edits 10,000 characters apart: two small hunks, not everything in between.
    const twice = `y${text.slice(1, 10_000)}Z${text.slice(10_001)}`;
    expect(diff(text, twice).length).toBeLessThan(40);
    expect(patch(text, diff(text, twice))).toBe(twice);
  });

  test("a hunk never ends inside a surrogate pair (BSON strings are UTF-8)", () => {
    const before = "let face = '😀';";
    const after = "let face = '😃';";
    const delta = diff(before, after);
    expect(patch(before, delta)).toBe(after);
    expect(Buffer.from(delta, "utf8").toString("utf8")).toBe(delta);
  });

  test("a malformed diff is refused rather than applied", () => {
    for (const bad of ["1,0", "x,0,0,", "5,0,1,", "0,99,0,"]) {
      expect(() => patch("abc", bad)).toThrow();
    }
  });
});

describe("what is kept per version", () => {
  const user = new ObjectId().toHexString();
  const at = new Date();

  test("the first version, a rewrite, and diffs adding up past the text are snapshots", () => {
    const start = { language: "javascript", text: "", version: 0, snapshotVersion: 0 };
    const first = planChange(
      start,
      { language: "javascript", text: "x = 1", version: 1 },
      user,
      at,
    );
    expect(first.change).toMatchObject({ version: 1, text: "x = 1", language: "javascript" });
    expect(first.change.diff).toBeUndefined();

    const stored = { language: "javascript", text: "a".repeat(100), version: 1 };
    const small = planChange(
      { ...stored, snapshotVersion: 1, diffSinceSnapshot: 0 },
      { language: "javascript", text: `${"a".repeat(100)}b`, version: 2 },
      user,
      at,
    );
    expect(small.change).toMatchObject({ version: 2, diff: "100,0,1,b" });
    expect(small.change.text).toBeUndefined();
    expect(small.change.language).toBeUndefined();
    expect(small.diffSinceSnapshot).toBe(9);

    const piledUp = planChange(
      { ...stored, snapshotVersion: 1, diffSinceSnapshot: 95 },
      { language: "javascript", text: `${"a".repeat(100)}b`, version: 2 },
      user,
      at,
    );
    expect(piledUp.change.text).toBe(`${"a".repeat(100)}b`);
    expect(piledUp).toMatchObject({ snapshotVersion: 2, diffSinceSnapshot: 0 });

    const relanguaged = planChange(
      { ...stored, snapshotVersion: 1, diffSinceSnapshot: 0 },
      { language: "python", text: `b${"a".repeat(100)}`, version: 2 },
      user,
      at,
    );
    expect(relanguaged.change).toMatchObject({ diff: "0,0,1,b", language: "python" });
    // Code edited before the history existed starts it with a snapshot.
    const legacy = planChange(
      { ...stored, version: 40 },
      { language: "javascript", text: "a", version: 41 },
      user,
      at,
    );
    expect(legacy.change.text).toBe("a");
  });
});

describe("GET /api/sessions/:id/code/history", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app.stop();
  });

  interface Editor {
    host: TestUser;
    guest: TestUser;
    stranger: TestUser;
    sessionId: string;
    h: TestSocket;
    g: TestSocket;
  }

  async function editor(): Promise<Editor> {
    const [host, guest, stranger] = await Promise.all([
      registerUser(app.api),
      registerUser(app.api),
      registerUser(app.api),
    ]);
    const session = await createSession(app.api, host);
    await sessionAction(app.api, guest, session._id, "join");
    const [h, g] = await Promise.all([app.socket(host.token), app.socket(guest.token)]);
    for (const socket of [h, g]) {
      socket.send("join-session", session._id);
      await socket.next("session-joined");
    }
    return { host, guest, stranger, sessionId: session._id, h, g };
  }

  let refs = 0;
  /** Sends one update and waits for it to be accepted. */
  async function update(
    socket: TestSocket,
    sessionId: string,
    text: string,
    version: number,
    language = "javascript",
  ) {
    const ref = `u${++refs}`;
    socket.send("code-update", { sessionId, language, text, version }, ref);
    const answer = await Promise.race([
      socket.next("code-accepted", (d) => d.version === version && d.sessionId === sessionId),
      socket.next("socket-error", (d) => d.ref === ref),
    ]);
    if (answer.event !== "code-accepted") throw new Error(JSON.stringify(answer.data));
  }

  async function all(user: TestUser, sessionId: string, limit = 100) {
    const versions: any[] = [];
    let after = 0;
    for (;;) {
      const res = await app.api(
        `/api/sessions/${sessionId}/code/history?after=${after}&limit=${limit}`,
        { token: user.token },
      );
      expect(res.status).toBe(200);
      versions.push(...res.body.versions);
      if (!res.body.hasMore) return versions;
      after = res.body.versions.at(-1).version;
    }
  }

  test("every version, by either side, comes back exactly as sent, with who and when", async () => {
    const { host, guest, sessionId, h, g } = await editor();
    const next = random(11);
    const sent: { text: string; language: string; userId: string }[] = [];
    let text = "";
    let language = "javascript";
    for (let version = 1; version <= 60; version++) {
      text = version === 1 ? code(next, 400) : edit(next, text);
      if (version === 30) language = "typescript";
      const byHost = version % 3 !== 0;
      await update(byHost ? h : g, sessionId, text, version, language);
      sent.push({ text, language, userId: (byHost ? host : guest).id });
    }
    for (const [user, limit] of [
      [host, 100],
      [guest, 7],
    ] as const) {
      const versions = await all(user, sessionId, limit);
      expect(versions.map((v) => v.version)).toEqual(sent.map((_, i) => i + 1));
      versions.forEach((v, i) => {
        expect({
          version: v.version,
          text: v.text,
          language: v.language,
          userId: v.userId,
        }).toEqual({ version: i + 1, ...sent[i]! });
        expect(new Date(v.at).toISOString()).toBe(v.at);
      });
    }
    const page = await app.api(`/api/sessions/${sessionId}/code/history?after=58&limit=5`, {
      token: host.token,
    });
    expect(page.body.versions.map((v: any) => v.version)).toEqual([59, 60]);
    expect(page.body.hasMore).toBe(false);
    const past = await app.api(`/api/sessions/${sessionId}/code/history?after=60`, {
      token: host.token,
    });
    expect(page.status).toBe(200);
    expect(past.body).toEqual({ versions: [], hasMore: false });
    await Promise.all([h.close(), g.close()]);
  });

  test("a stranger and a participant who left get 404; bad queries 400; the session must exist", async () => {
    const { host, guest, stranger, sessionId, h, g } = await editor();
    await update(h, sessionId, "secret plan", 1);
    const notFound = { message: "Session not found", code: "NOT_FOUND" };
    const historyOf = (user: TestUser, query = "") =>
      app.api(`/api/sessions/${sessionId}/code/history${query}`, { token: user.token });
    expect((await historyOf(stranger)).body).toEqual(notFound);
    await sessionAction(app.api, guest, sessionId, "leave");
    expect((await historyOf(guest)).status).toBe(404);
    expect((await historyOf(host)).body.versions).toHaveLength(1);
    for (const query of ["?after=-1", "?limit=0", "?limit=101", "?after=x"]) {
      expect((await historyOf(host, query)).status).toBe(400);
    }
    const unknown = await app.api("/api/sessions/0123456789abcdef01234567/code/history", {
      token: host.token,
    });
    expect(unknown.body).toEqual(notFound);
    expect((await app.api(`/api/sessions/${sessionId}/code/history`)).status).toBe(401);
    await Promise.all([h.close(), g.close()]);
  });

  test("a change whose history write was lost is still replayed, and written by the next update", async () => {
    const { host, sessionId, h, g } = await editor();
    const versions = app.db.connection.collection("codeversions");
    const session = new ObjectId(sessionId);
    await update(h, sessionId, "let a = 1;", 1);
    await update(h, sessionId, "let a = 12;", 2);
    // As if the write of version 2 had failed after the session accepted it.
    await versions.deleteOne({ session, version: 2 });
    const replayed = await all(host, sessionId);
    expect(replayed.map((v) => v.text)).toEqual(["let a = 1;", "let a = 12;"]);
    await update(g, sessionId, "let a = 123;", 3);
    expect(await versions.countDocuments({ session, version: { $in: [2, 3] } })).toBe(2);
    expect((await all(host, sessionId)).map((v) => v.text)).toEqual([
      "let a = 1;",
      "let a = 12;",
      "let a = 123;",
    ]);
    await Promise.all([h.close(), g.close()]);
  });

  test("stored bytes per version: a 10,000-character file edited a few characters at a time", async () => {
    const { host, sessionId, h, g } = await editor();
    const next = random(2024);
    const EDITS = 1000;
    let text = code(next, 10_000);
    const sent = [text];
    await update(h, sessionId, text, 1);
    for (let version = 2; version <= EDITS + 1; version++) {
      text = edit(next, text);
      sent.push(text);
      await update(version % 2 ? h : g, sessionId, text, version);
    }
    const docs = await app.db.connection
      .collection("codeversions")
      .find({ session: new ObjectId(sessionId) })
      .toArray();
    expect(docs).toHaveLength(EDITS + 1);
    const bytes = docs.reduce((sum, doc) => sum + calculateObjectSize(doc), 0);
    const perVersion = bytes / docs.length;
    const snapshots = docs.filter((doc) => typeof doc.text === "string").length;
    const whole = sent.reduce((sum, t) => sum + Buffer.byteLength(t), 0) / sent.length;
    console.log(
      `code history: ${docs.length} versions of a ~10,000-character file, ${snapshots} ` +
        `snapshots, ${bytes} bytes stored: ${perVersion.toFixed(1)} B per version ` +
        `(whole copies: ${whole.toFixed(0)} B per version)`,
    );
    expect(perVersion).toBeLessThan(200);

    const replayed = await all(host, sessionId);
    expect(replayed).toHaveLength(sent.length);
    for (const [i, version] of replayed.entries()) {
      if (version.text !== sent[i]) throw new Error(`version ${i + 1} differs from what was sent`);
    }
    await Promise.all([h.close(), g.close()]);
  }, 120_000);
});
