import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { type FakeStream, fakeStream } from "./support/fake-stream.ts";
import { fromNow } from "./support/sessions.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * A whole interview, end to end, as the two apps drive it: an interviewer schedules it for a
 * candidate, the candidate takes the reserved seat, the host starts it, both talk in the session's
 * chat over /ws and edit the code together, the host keeps private notes and ends it. Afterwards
 * the chat history and the code history replay the interview exactly; a stranger gets 404 on all
 * of it, and the notes stay the host's. Once without Stream, once with the fake Stream.
 */
let stream: FakeStream;

beforeAll(() => {
  stream = fakeStream();
});
afterAll(async () => {
  await stream.stop();
});

interface Person {
  id: string;
  name: string;
  token: string;
}

describe.each([
  ["without Stream", false],
  ["with the fake Stream", true],
] as const)("a whole interview %s", (_label, withStream) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(withStream ? stream.env : {});
  });
  afterAll(async () => {
    await app.stop();
  });

  async function register(name: string, role?: "interviewer" | "candidate"): Promise<Person> {
    const res = await app.api("/api/auth/register", {
      body: {
        name,
        email: `${name.toLowerCase()}.${crypto.randomUUID().slice(0, 8)}@example.com`,
        password: "correct horse battery",
        ...(role ? { role } : {}),
      },
    });
    expect(res.status).toBe(201);
    return { id: res.body.user._id, name, token: res.body.token };
  }

  test("schedule, join, start, chat, code, notes, end; then everything replays exactly", async () => {
    const ivy = await register("Ivy", "interviewer");
    const cal = await register("Cal", "candidate");
    const eve = await register("Eve");
    const post = (who: Person, path: string, body?: unknown) =>
      app.api(path, { method: "POST", token: who.token, body });
    const get = (who: Person, path: string) => app.api(path, { token: who.token });

    // The candidate's app is open: it hears of the invitation.
    const calSocket = await app.socket(cal.token);
    await calSocket.next("online-users");

    // 1. Ivy schedules the interview for Cal.
    const interviewers = await get(cal, "/api/users?role=interviewer");
    expect(interviewers.body.users.map((u: { _id: string }) => u._id)).toContain(ivy.id);
    const scheduled = await post(ivy, "/api/sessions/create", {
      problem: "LRU cache",
      difficulty: "medium",
      description: "Design, then code",
      scheduledFor: fromNow(15),
      durationMinutes: 45,
      inviteeId: cal.id,
    });
    expect(scheduled.status).toBe(201);
    const session = scheduled.body.session;
    const sessionId: string = session._id;
    const chatId: string = session.chatId;
    expect(session).toMatchObject({ status: "scheduled", invitee: { _id: cal.id } });
    expect((await calSocket.next("session-updated")).data.session._id).toBe(sessionId);
    const upcoming = await get(cal, `/api/sessions/user/${cal.id}?status=scheduled`);
    expect(upcoming.body.sessions.map((s: { _id: string }) => s._id)).toEqual([sessionId]);

    // 2. Cal takes the reserved seat; Eve cannot.
    expect((await post(eve, `/api/sessions/${sessionId}/join`)).status).toBe(403);
    expect((await post(cal, `/api/sessions/${sessionId}/join`)).status).toBe(200);

    // 3. Both open the interview screen: the session and its chat.
    const ivySocket = await app.socket(ivy.token);
    const screens: [Person, TestSocket][] = [
      [ivy, ivySocket],
      [cal, calSocket],
    ];
    for (const [, socket] of screens) {
      socket.send("join-session", sessionId, "s");
      await socket.next("session-joined");
      socket.send("join-chat", chatId, "c");
      await socket.next("chat-joined");
    }

    // 4. Ivy starts it.
    const started = await post(ivy, `/api/sessions/${sessionId}/start`);
    expect(started.body.session).toMatchObject({ status: "active", startedAt: expect.any(String) });
    await calSocket.next("session-updated", (d) => d.session.status === "active");

    // 5. They talk in the session's chat, over /ws (and once over REST).
    const said: { from: Person; text: string }[] = [];
    async function say(from: Person, socket: TestSocket, text: string) {
      const clientId = `${from.name}-${said.length}`;
      socket.send("send-message", { chatId, text, clientId }, clientId);
      const ack = await socket.next("message-sent", (d) => d.clientId === clientId);
      expect(ack.data.message).toMatchObject({ seq: said.length + 1, text });
      said.push({ from, text });
    }
    await say(ivy, ivySocket, "Hi Cal, can you hear me?");
    await calSocket.next("new-message", (m) => m.seq === 1);
    calSocket.send("typing", { chatId, isTyping: true });
    expect((await ivySocket.next("typing")).data).toMatchObject({ userId: cal.id, isTyping: true });
    // Cal reads before answering (an answer marks what came before it read by itself).
    calSocket.send("mark-read", { chatId, seq: 1 });
    expect((await ivySocket.next("chat-read")).data).toEqual({ chatId, userId: cal.id, seq: 1 });
    await say(cal, calSocket, "Yes! Shall I start with the interface?");
    const viaRest = await post(ivy, "/api/chat/save-message", {
      sessionId,
      text: "Please do.",
      clientId: "ivy-rest",
    });
    expect(viaRest.status).toBe(201);
    said.push({ from: ivy, text: "Please do." });
    await calSocket.next("new-message", (m) => m.text === "Please do.");

    // 6. They edit the code together; when both type at once, one rebases on the other.
    const accepted: { text: string; language: string; userId: string }[] = [];
    let refs = 0;
    async function type(from: Person, socket: TestSocket, text: string, language = "typescript") {
      const version = accepted.length + 1;
      const ref = `code-${++refs}`;
      socket.send("code-update", { sessionId, language, text, version }, ref);
      const answer = await socket.next("code-accepted", (d) => d.version === version);
      expect(answer.ref).toBe(ref);
      accepted.push({ text, language, userId: from.id });
    }
    await type(cal, calSocket, "class LRU {}");
    await type(cal, calSocket, "class LRU {\n  constructor(capacity) {}\n}");
    await type(ivy, ivySocket, "// O(1) get and put\nclass LRU {\n  constructor(capacity) {}\n}");
    // Both send version 4 at once: exactly one wins, the other gets CONFLICT with what is stored.
    const base = accepted.at(-1)!.text;
    const calText = `${base}\nconst cache = new LRU(2);`;
    const ivyText = base.replace("O(1)", "O(1) amortized");
    calSocket.send(
      "code-update",
      { sessionId, language: "typescript", text: calText, version: 4 },
      "c4",
    );
    ivySocket.send(
      "code-update",
      { sessionId, language: "typescript", text: ivyText, version: 4 },
      "i4",
    );
    const outcomes = await Promise.all(
      [calSocket, ivySocket].map((socket, i) =>
        Promise.race([
          socket.next("code-accepted", (d) => d.version === 4),
          socket.next("socket-error", (d) => d.ref === (i === 0 ? "c4" : "i4")),
        ]),
      ),
    );
    const winner = outcomes.findIndex((o) => o.event === "code-accepted");
    const loser = 1 - winner;
    expect(winner).toBeGreaterThanOrEqual(0);
    expect(outcomes[loser]!.data).toMatchObject({ code: "CONFLICT", version: 4 });
    const [winnerPerson, winnerText] = winner === 0 ? [cal, calText] : [ivy, ivyText];
    accepted.push({ text: winnerText, language: "typescript", userId: winnerPerson.id });
    // The loser rebases: both changes, as version 5.
    const merged = `${ivyText}\nconst cache = new LRU(2);`;
    const [loserPerson, loserSocket] = loser === 0 ? [cal, calSocket] : [ivy, ivySocket];
    await type(loserPerson, loserSocket, merged);
    await type(cal, calSocket, `${merged}\ncache.put(1, 1);`, "javascript");

    // 7. Ivy's private notes.
    const notes = await app.api(`/api/sessions/${sessionId}/notes`, {
      method: "PUT",
      token: ivy.token,
      body: { text: "Clear thinking; missed eviction order at first.", rating: 4 },
    });
    expect(notes.status).toBe(200);

    if (withStream) {
      const channel = await post(cal, "/api/chat/channel", { sessionId });
      expect(channel.body).toEqual({ channel: { type: "messaging", id: session.callId } });
      expect([...stream.channels.get(`messaging:${session.callId}`)!.members].sort()).toEqual(
        [ivy.id, cal.id].sort(),
      );
      expect(stream.videoCalls.has(`default:${session.callId}`)).toBe(true);
    }

    // 8. Ivy ends it.
    const ended = await post(ivy, `/api/sessions/${sessionId}/end`);
    expect(ended.status).toBe(200);
    expect(ended.body.session).toMatchObject({ status: "completed", endedAt: expect.any(String) });
    if (withStream) {
      expect(stream.videoCalls.has(`default:${session.callId}`)).toBe(false);
      expect(stream.channels.has(`messaging:${session.callId}`)).toBe(false);
    }
    const frozen = await post(cal, "/api/chat/save-message", { sessionId, text: "one more" });
    expect(frozen.body.code).toBe("CHAT_FROZEN");

    // Afterwards: the chat replays exactly, for both of them.
    for (const who of [ivy, cal]) {
      const history = await get(who, `/api/chat/history/${sessionId}`);
      expect(history.status).toBe(200);
      expect(
        history.body.messages.map((m: any) => ({ seq: m.seq, from: m.sender._id, text: m.text })),
      ).toEqual(said.map((m, i) => ({ seq: i + 1, from: m.from.id, text: m.text })));
    }
    // And the code, version by version.
    for (const who of [ivy, cal]) {
      const code = await get(who, `/api/sessions/${sessionId}/code/history`);
      expect(code.status).toBe(200);
      expect(code.body.hasMore).toBe(false);
      expect(
        code.body.versions.map((v: any) => ({
          text: v.text,
          language: v.language,
          userId: v.userId,
        })),
      ).toEqual(accepted);
      expect(code.body.versions.map((v: { version: number }) => v.version)).toEqual(
        accepted.map((_, i) => i + 1),
      );
    }
    const stored = await get(cal, `/api/sessions/${sessionId}`);
    expect(stored.body.session.code).toEqual({
      language: "javascript",
      text: accepted.at(-1)!.text,
      version: accepted.length,
    });

    // A stranger gets 404 on all of it.
    const notFound = { message: "Session not found", code: "NOT_FOUND" };
    for (const path of [
      `/api/chat/history/${sessionId}`,
      `/api/sessions/${sessionId}/code/history`,
      `/api/messages/chat/${chatId}`,
    ]) {
      const res = await get(eve, path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    expect((await get(eve, `/api/chat/history/${sessionId}`)).body).toEqual(notFound);
    expect((await post(eve, "/api/chat/save-message", { sessionId, text: "hi" })).body).toEqual(
      notFound,
    );
    expect((await get(eve, `/api/sessions/${sessionId}/notes`)).status).toBe(404);
    if (withStream) {
      expect((await post(eve, "/api/chat/channel", { sessionId })).status).toBe(404);
    }
    const eveSocket = await app.socket(eve.token);
    eveSocket.send("join-chat", { chatId, after: 0 }, "e");
    expect((await eveSocket.next("socket-error")).data).toMatchObject({
      code: "NOT_FOUND",
      ref: "e",
    });

    // The notes are the host's alone: 404 for the candidate, and nowhere in what Cal received.
    expect((await get(cal, `/api/sessions/${sessionId}/notes`)).status).toBe(404);
    const ivyNotes = await get(ivy, `/api/sessions/${sessionId}/notes`);
    expect(ivyNotes.body.notes).toMatchObject({ rating: 4 });
    expect(JSON.stringify(calSocket.frames)).not.toContain("eviction order");
    expect(JSON.stringify(stored.body)).not.toContain("eviction order");

    await Promise.all([ivySocket.close(), calSocket.close(), eveSocket.close()]);
  }, 60_000);
});
