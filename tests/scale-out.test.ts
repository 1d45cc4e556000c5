import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { RedisClient } from "bun";
import { createLogger } from "../src/plugins/logger.ts";
import type { RealtimeOptions } from "../src/realtime/index.ts";
import type { PresenceChange } from "../src/realtime/presence.ts";
import { RedisConnection } from "../src/realtime/redis/connection.ts";
import { RedisPresence } from "../src/realtime/redis/presence.ts";
import { loadScripts } from "../src/realtime/redis/script.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  clearNamespace,
  type PrivateRedis,
  privateRedis,
  redisAnswers,
  redisServerInstalled,
  SHARED_REDIS_URL,
  spawnInstance,
} from "./support/cluster.ts";
import { type TestMongo, testMongo } from "./support/mongo.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * Several instances, one database, one Redis: they must act as one server. Instances heartbeat
 * every 250 ms and expire after 2 s here (3 s and 10 s in production), so a crash shows in ~2 s.
 */
const JWT_SECRET = "scale-out-test-secret-0123456789abcdef";
const TIMING = { heartbeatMs: 250, expiryMs: 2000 } satisfies RealtimeOptions;
const sessionsExist = existsSync(resolve(import.meta.dir, "../src/modules/sessions"));

const sharedRedis = await redisAnswers(SHARED_REDIS_URL);
const canRun = sharedRedis || redisServerInstalled;
if (!canRun) console.warn("scale-out tests skipped: no Redis on 6379 and no redis-server to start");
if (!redisServerInstalled) console.warn("Redis outage test skipped: redis-server is not installed");

function namespace(): string {
  return `test-${crypto.randomUUID().slice(0, 8)}`;
}

const events = (socket: TestSocket, event: string, match: (data: any) => boolean = () => true) =>
  socket.frames.filter((f) => f.event === event && match(f.data));

/** Polls `/ready` until it answers `status`. */
async function readyBecomes(url: string, status: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await fetch(`${url}/ready`)).status;
    if (last === status) return;
    await Bun.sleep(50);
  }
  throw new Error(`/ready stayed ${last}, expected ${status}`);
}

describe.skipIf(!canRun)("two instances behind one Redis", () => {
  let mongo: TestMongo;
  let redis: PrivateRedis | undefined;
  let redisUrl: string;
  const ns = namespace();
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    mongo = await testMongo();
    if (!sharedRedis) redis = await privateRedis();
    redisUrl = redis?.url ?? SHARED_REDIS_URL;
    const env = { REDIS_URL: redisUrl, JWT_SECRET };
    const options = { mongo, realtime: { ...TIMING, namespace: ns } };
    [a, b] = await Promise.all([startTestApp(env, options), startTestApp(env, options)]);
    await Promise.all([readyBecomes(a.url, 200), readyBecomes(b.url, 200)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await clearNamespace(redisUrl, ns);
    await redis?.kill();
    await mongo?.stop();
  });

  async function pair(): Promise<{ alice: TestUser; bob: TestUser; chatId: string }> {
    const [alice, bob] = await Promise.all([registerUser(a.api), registerUser(b.api)]);
    return { alice, bob, chatId: await chatBetween(a.api, alice, bob) };
  }

  test("a message sent on A reaches every socket on A and B exactly once", async () => {
    const { alice, bob, chatId } = await pair();
    const aliceOnA = await a.socket(alice.token);
    const bobOnB = await b.socket(bob.token);
    const bobOnA = await a.socket(bob.token);

    aliceOnA.send("send-message", { chatId, text: "across", clientId: "x1" });
    const sent = (await aliceOnA.next("message-sent")).data.message;
    for (const socket of [aliceOnA, bobOnB, bobOnA]) {
      expect((await socket.next("new-message")).data._id).toBe(sent._id);
    }
    // And the other way round, through REST on B.
    const posted = await b.api(`/api/messages/chat/${chatId}`, {
      token: bob.token,
      body: { text: "back" },
    });
    expect(posted.status).toBe(201);
    await aliceOnA.next("new-message", (m) => m.text === "back");

    await Bun.sleep(200);
    for (const socket of [aliceOnA, bobOnB, bobOnA]) {
      expect(events(socket, "new-message").map((f) => f.data.text)).toEqual(["across", "back"]);
    }
    await Promise.all([aliceOnA.close(), bobOnB.close(), bobOnA.close()]);
  });

  test("typing crosses instances, and is still not echoed", async () => {
    const { alice, bob, chatId } = await pair();
    const aliceOnA = await a.socket(alice.token);
    const bobOnB = await b.socket(bob.token);
    for (const socket of [aliceOnA, bobOnB]) {
      socket.send("join-chat", chatId);
      await socket.next("chat-joined");
    }
    bobOnB.send("typing", { chatId, isTyping: true });
    expect((await aliceOnA.next("typing")).data).toEqual({
      userId: bob.id,
      chatId,
      isTyping: true,
    });
    await Bun.sleep(100);
    expect(events(bobOnB, "typing")).toEqual([]);
    expect(events(aliceOnA, "typing")).toHaveLength(1);
    await Promise.all([aliceOnA.close(), bobOnB.close()]);
  });

  test("presence counts sockets across instances: offline only when the last tab anywhere closes", async () => {
    const { alice, bob } = await pair();
    const aliceOnA = await a.socket(alice.token);
    await aliceOnA.next("online-users");

    const bobOnB = await b.socket(bob.token);
    expect((await bobOnB.next("online-users")).data.userIds).toEqual([alice.id]);
    expect((await aliceOnA.next("user-online")).data).toEqual({ userId: bob.id });
    const bobOnA = await a.socket(bob.token);
    await bobOnA.next("online-users");

    await bobOnB.close();
    await Bun.sleep(200);
    expect(events(aliceOnA, "user-offline")).toEqual([]);
    await bobOnA.close();
    expect((await aliceOnA.next("user-offline")).data).toEqual({ userId: bob.id });
    await Bun.sleep(100);
    expect(events(aliceOnA, "user-online")).toHaveLength(1);
    expect(events(aliceOnA, "user-offline")).toHaveLength(1);
    await aliceOnA.close();
  });

  test("rate limits are counted once for all instances", async () => {
    const { alice, bob, chatId } = await pair();
    const onA = await a.socket(alice.token);
    const onB = await b.socket(alice.token);
    const other = await b.socket(bob.token);
    // One allowance (typing: a burst of 20, then 5 a second) for both instances together; with one
    // per instance, 25 on each would nearly all pass.
    const startedAt = Date.now();
    for (let i = 0; i < 25; i++) {
      onA.send("typing", { chatId, isTyping: true });
      onB.send("typing", { chatId, isTyping: true });
    }
    onA.send("ping", "done");
    onB.send("ping", "done");
    await Promise.all([onA.next("pong"), onB.next("pong")]);
    const seconds = (Date.now() - startedAt) / 1000;
    const limited = [onA, onB].flatMap((s) =>
      events(s, "socket-error", (d) => d.code === "RATE_LIMITED"),
    );
    expect(50 - limited.length).toBeLessThanOrEqual(20 + Math.ceil(5 * seconds));
    await Promise.all([onA.close(), onB.close(), other.close()]);
  });

  test("an instance that crashes: its users go offline within the expiry, and resume on another", async () => {
    // C runs in a process of its own, so that it can die without a word, as in a crash.
    const spawned = spawnInstance(
      { REDIS_URL: redisUrl, JWT_SECRET },
      { mongo, realtime: { ...TIMING, namespace: ns } },
    );
    const [alice, carol, dave] = await Promise.all([
      registerUser(b.api, "Alice"),
      registerUser(b.api, "Carol"),
      registerUser(b.api, "Dave"),
    ]);
    const c = await spawned;
    try {
      const chatId = await chatBetween(b.api, alice, carol);
      await chatBetween(b.api, alice, dave);

      const aliceOnB = await b.socket(alice.token);
      await aliceOnB.next("online-users");
      const carolOnC = await c.socket(carol.token);
      const daveOnC = await c.socket(dave.token);
      const daveOnA = await a.socket(dave.token);
      await aliceOnB.next("user-online", (d) => d.userId === carol.id);
      await aliceOnB.next("user-online", (d) => d.userId === dave.id);
      await daveOnA.next("online-users");

      aliceOnB.send("send-message", { chatId, text: "before the crash" });
      const seen = (await carolOnC.next("new-message")).data;

      const killedAt = Date.now();
      await c.kill();
      await daveOnC.closed();
      for (const text of ["while down 1", "while down 2"]) {
        aliceOnB.send("send-message", { chatId, text });
        await aliceOnB.next("message-sent", (d) => d.message.text === text);
      }

      expect((await aliceOnB.next("user-offline", () => true, 5000)).data).toEqual({
        userId: carol.id,
      });
      expect(Date.now() - killedAt).toBeLessThan(TIMING.expiryMs + 2000);
      await Bun.sleep(TIMING.heartbeatMs * 2);
      // Dave still has a tab on A, so he never went offline; Carol was announced once.
      expect(events(aliceOnB, "user-offline")).toEqual([
        { event: "user-offline", data: { userId: carol.id } },
      ]);

      // Carol's client reconnects, to B this time, and resumes where it was.
      const carolOnB = await b.socket(carol.token);
      await aliceOnB.next("user-online", (d) => d.userId === carol.id);
      carolOnB.send("join-chat", { chatId, after: seen.seq });
      await carolOnB.next("chat-joined");
      const replayed = [await carolOnB.next("new-message"), await carolOnB.next("new-message")];
      expect(replayed.map((f) => f.data.text)).toEqual(["while down 1", "while down 2"]);
      expect(replayed.map((f) => f.data.seq)).toEqual([seen.seq + 1, seen.seq + 2]);
      await Promise.all([aliceOnB.close(), carolOnB.close(), daveOnA.close()]);
    } finally {
      await c.kill();
    }
  }, 20_000);

  test.todoIf(!sessionsExist)(
    "session events cross instances: session-updated, peer-joined, signal, toggle-media",
    async () => {
      const { alice: host, bob: guest } = await pair();
      const hostOnA = await a.socket(host.token);
      const guestOnB = await b.socket(guest.token);
      const created = await a.api("/api/sessions", {
        token: host.token,
        body: { problem: `Two sum ${crypto.randomUUID()}`, difficulty: "easy" },
      });
      expect(created.status).toBe(201);
      const session = created.body.session;
      const sessionId: string = session._id;
      const joined = await b.api(`/api/sessions/${sessionId}/join`, {
        method: "POST",
        token: guest.token,
      });
      expect(joined.status).toBe(200);
      await hostOnA.next("session-updated", (d) => d.session.participant?._id === guest.id);

      hostOnA.send("join-session", sessionId);
      await hostOnA.next("session-joined");
      guestOnB.send("join-session", sessionId);
      await guestOnB.next("session-joined");
      expect((await hostOnA.next("peer-joined")).data).toEqual({ sessionId, userId: guest.id });

      const offer = { sdp: "v=0 offer" };
      guestOnB.send("signal", { sessionId, to: host.id, type: "offer", payload: offer });
      expect((await hostOnA.next("signal")).data).toEqual({
        sessionId,
        from: guest.id,
        type: "offer",
        payload: offer,
      });
      hostOnA.send("toggle-media", { sessionId, kind: "video", enabled: false });
      expect((await guestOnB.next("toggle-media")).data).toEqual({
        sessionId,
        userId: host.id,
        kind: "video",
        enabled: false,
      });

      await Bun.sleep(100);
      expect(events(hostOnA, "signal")).toHaveLength(1);
      expect(events(guestOnB, "toggle-media")).toHaveLength(1);
      await Promise.all([hostOnA.close(), guestOnB.close()]);
    },
  );
});

describe.skipIf(!sharedRedis)("presence in Redis", () => {
  // Every test here has instances of its own: a namespace each.
  let ns = "";
  const namespaces: string[] = [];
  beforeEach(() => {
    ns = namespace();
    namespaces.push(ns);
  });
  const log = createLogger("silent");
  const started: { presence: RedisPresence; redis: RedisConnection }[] = [];
  afterAll(async () => {
    for (const { presence, redis } of started) {
      await presence.close();
      await redis.close();
    }
    for (const used of namespaces) await clearNamespace(SHARED_REDIS_URL, used);
  });

  async function instance(instanceId: string) {
    const redis = new RedisConnection({
      url: SHARED_REDIS_URL,
      role: "commands",
      log,
      setup: loadScripts,
    });
    const presence = new RedisPresence(redis, { ...TIMING, namespace: ns, instanceId, log });
    const changes: PresenceChange[] = [];
    presence.onChange((change) => {
      changes.push(change);
    });
    redis.start();
    for (let i = 0; i < 100 && !redis.up; i++) await Bun.sleep(10);
    started.push({ presence, redis });
    return { presence, changes };
  }

  test("online once across instances, offline when the last socket anywhere goes", async () => {
    const [p, q] = await Promise.all([instance("p"), instance("q")]);
    expect(await p.presence.connect("u1")).toBe(true);
    expect(await q.presence.connect("u1")).toBe(false);
    expect(await p.presence.connect("u1")).toBe(false);
    expect(await q.presence.online(["u1", "u2"])).toEqual(["u1"]);
    expect(await p.presence.disconnect("u1")).toBe(false);
    expect(await p.presence.disconnect("u1")).toBe(false);
    expect(await q.presence.disconnect("u1")).toBe(true);
    expect(await p.presence.online(["u1"])).toEqual([]);
  });

  test("a dead instance is swept once: one announcement, only for users online nowhere else", async () => {
    // An instance that died with two users, one of whom also has a socket on a live instance.
    const redis = new RedisClient(SHARED_REDIS_URL);
    await redis.send("ZADD", [`${ns}:instances`, "0", "dead"]);
    await redis.send("HSET", [`${ns}:sockets:dead`, "gone", "2", "stays", "1"]);
    await redis.send("HSET", [`${ns}:online`, "gone", "2", "stays", "1"]);
    redis.close();
    const live = await Promise.all([instance("s1"), instance("s2"), instance("s3")]);
    expect(await live[0].presence.connect("stays")).toBe(false);

    await Bun.sleep(TIMING.heartbeatMs * 4);
    const offline = live.flatMap(({ changes }) => changes.filter((c) => !c.online));
    expect(offline).toEqual([{ userIds: ["gone"], online: false }]);
    expect(await live[1].presence.online(["gone", "stays"])).toEqual(["stays"]);
  });
});

describe.skipIf(!redisServerInstalled)("Redis goes away and comes back", () => {
  let mongo: TestMongo;
  let redis: PrivateRedis;
  let p: TestApp;
  let q: TestApp;

  beforeAll(async () => {
    mongo = await testMongo();
    redis = await privateRedis();
    const env = { REDIS_URL: redis.url, JWT_SECRET };
    const options = { mongo, realtime: { ...TIMING, namespace: namespace() } };
    [p, q] = await Promise.all([startTestApp(env, options), startTestApp(env, options)]);
    await Promise.all([readyBecomes(p.url, 200), readyBecomes(q.url, 200)]);
  });
  afterAll(async () => {
    await Promise.all([p?.stop(), q?.stop()]);
    await redis?.kill();
    await mongo?.stop();
  });

  test("each instance keeps serving its own sockets, answers 503, and recovers by itself", async () => {
    const [erin, frank, gina] = await Promise.all([
      registerUser(p.api, "Erin"),
      registerUser(p.api, "Frank"),
      registerUser(p.api, "Gina"),
    ]);
    const erinFrank = await chatBetween(p.api, erin, frank);
    const erinGina = await chatBetween(p.api, erin, gina);
    const erinOnP = await p.socket(erin.token);
    const ginaOnP = await p.socket(gina.token);
    const frankOnQ = await q.socket(frank.token);
    await frankOnQ.next("online-users");

    await redis.kill();
    await Promise.all([readyBecomes(p.url, 503), readyBecomes(q.url, 503)]);
    expect((await fetch(`${p.url}/health`)).status).toBe(200);

    // Local delivery still works on P.
    ginaOnP.send("send-message", { chatId: erinGina, text: "redis is down" });
    expect((await erinOnP.next("new-message")).data.text).toBe("redis is down");
    // And sending to someone on the other instance is stored, for them to fetch later.
    erinOnP.send("send-message", { chatId: erinFrank, text: "stored while down" });
    await erinOnP.next("message-sent");

    await redis.restart();
    await Promise.all([readyBecomes(p.url, 200), readyBecomes(q.url, 200)]);

    // Frank never heard "stored while down": every socket is told to reconnect and resume.
    for (const socket of [erinOnP, ginaOnP, frankOnQ]) expect(await socket.closed()).toBe(1012);
    const erinAgain = await p.socket(erin.token);
    const frankAgain = await q.socket(frank.token);
    // The restarted Redis was empty: P wrote its sockets back, so Q sees Erin online.
    expect((await frankAgain.next("online-users")).data.userIds).toEqual([erin.id]);
    frankAgain.send("join-chat", { chatId: erinFrank, after: 0 });
    const missed = await frankAgain.next("new-message");
    expect(missed.data).toMatchObject({ text: "stored while down", seq: 1 });

    // Across instances again, exactly once.
    erinAgain.send("send-message", { chatId: erinFrank, text: "redis is back" });
    const back = await frankAgain.next("new-message", (m) => m.text === "redis is back");
    expect(back.data.seq).toBe(2);
    await Bun.sleep(100);
    expect(events(frankAgain, "new-message", (m) => m.text === "redis is back")).toHaveLength(1);
    await Promise.all([erinAgain.close(), frankAgain.close()]);
  });
});
