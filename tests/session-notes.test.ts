import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createSession, sessionAction } from "./support/sessions.ts";
import { registerUser, type TestUser } from "./support/users.ts";

/** The host's private notes on a session and their rating: nobody else learns they exist. */
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.stop();
});

async function people(): Promise<{ host: TestUser; guest: TestUser; stranger: TestUser }> {
  const [host, guest, stranger] = await Promise.all([
    registerUser(app.api),
    registerUser(app.api),
    registerUser(app.api),
  ]);
  return { host: host!, guest: guest!, stranger: stranger! };
}

const getNotes = (user: TestUser, sessionId: string) =>
  app.api(`/api/sessions/${sessionId}/notes`, { token: user.token });
const putNotes = (user: TestUser, sessionId: string, body: unknown) =>
  app.api(`/api/sessions/${sessionId}/notes`, { method: "PUT", token: user.token, body });

describe("the host's notes", () => {
  test("empty until saved; PUT replaces text and rating; GET reads them back", async () => {
    const { host } = await people();
    const session = await createSession(app.api, host);
    const empty = await getNotes(host, session._id);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({
      notes: { sessionId: session._id, text: "", rating: null, updatedAt: null },
    });

    const saved = await putNotes(host, session._id, { text: "Strong on graphs", rating: 4 });
    expect(saved.status).toBe(200);
    expect(saved.body.notes).toEqual({
      sessionId: session._id,
      text: "Strong on graphs",
      rating: 4,
      updatedAt: expect.stringMatching(/Z$/),
    });
    expect((await getNotes(host, session._id)).body).toEqual(saved.body);

    const unrated = await putNotes(host, session._id, { text: "Second thoughts" });
    expect(unrated.body.notes).toMatchObject({ text: "Second thoughts", rating: null });
    const nulled = await putNotes(host, session._id, { text: "x", rating: null });
    expect(nulled.body.notes.rating).toBeNull();
  });

  test("kept whatever the status: before, during and after the interview", async () => {
    const { host, guest } = await people();
    const session = await createSession(app.api, host);
    await sessionAction(app.api, guest, session._id, "join");
    await sessionAction(app.api, host, session._id, "end");
    const after = await putNotes(host, session._id, { text: "Hire", rating: 5 });
    expect(after.status).toBe(200);
    expect((await getNotes(host, session._id)).body.notes.text).toBe("Hire");
  });

  test("invisible to the participant and to strangers: 404 to read or write, never in the session", async () => {
    const { host, guest, stranger } = await people();
    const session = await createSession(app.api, host);
    await sessionAction(app.api, guest, session._id, "join");
    const secret = `private-${crypto.randomUUID()}`;
    await putNotes(host, session._id, { text: secret, rating: 2 });
    for (const user of [guest, stranger]) {
      const read = await getNotes(user, session._id);
      expect(read.status).toBe(404);
      expect(read.body).toEqual({ message: "Notes not found", code: "NOT_FOUND" });
      const write = await putNotes(user, session._id, { text: "overwritten", rating: 1 });
      expect(write.status).toBe(404);
    }
    expect((await getNotes(host, session._id)).body.notes).toMatchObject({
      text: secret,
      rating: 2,
    });
    for (const path of [
      `/api/sessions/${session._id}`,
      `/api/sessions/user/${guest.id}`,
      "/api/sessions?limit=100",
      "/api/sessions/active",
    ]) {
      const res = await app.api(path, { token: guest.token });
      expect(JSON.stringify(res.body)).not.toContain(secret);
      expect(JSON.stringify(res.body)).not.toContain('"rating"');
    }
  });

  test("validation: rating 1–5, text at most 20,000 characters; unknown session 404; 401", async () => {
    const { host } = await people();
    const session = await createSession(app.api, host);
    for (const body of [
      { text: "x", rating: 0 },
      { text: "x", rating: 6 },
      { text: "x", rating: 2.5 },
      { text: "x", rating: "five" },
      { rating: 3 },
      { text: "x".repeat(20_001) },
    ]) {
      const res = await putNotes(host, session._id, body);
      expect({ body: JSON.stringify(body).slice(0, 40), status: res.status }).toEqual({
        body: JSON.stringify(body).slice(0, 40),
        status: 400,
      });
    }
    const unknown = await getNotes(host, "0123456789abcdef01234567");
    expect(unknown.body).toEqual({ message: "Session not found", code: "NOT_FOUND" });
    expect((await getNotes(host, "nope")).status).toBe(400);
    expect((await app.api(`/api/sessions/${session._id}/notes`)).status).toBe(401);
  });

  test("deleting the session deletes its notes", async () => {
    const { host } = await people();
    const session = await createSession(app.api, host);
    const text = `gone soon ${crypto.randomUUID()}`;
    expect((await putNotes(host, session._id, { text })).status).toBe(200);
    const notes = app.db.connection.collection("sessionnotes");
    expect(await notes.countDocuments({ text })).toBe(1);
    const removed = await app.api(`/api/sessions/${session._id}`, {
      method: "DELETE",
      token: host.token,
    });
    expect(removed.status).toBe(204);
    expect(await notes.countDocuments({ text })).toBe(0);
  });
});
