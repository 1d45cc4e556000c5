import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { createLogger } from "../src/plugins/logger.ts";
import { RedisBroker } from "../src/realtime/redis/broker.ts";
import { RedisConnection } from "../src/realtime/redis/connection.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { type PrivateRedis, privateRedis, redisServerInstalled } from "./support/cluster.ts";
import { type TestMongo, testMongo } from "./support/mongo.ts";
import { chatBetween, registerUser } from "./support/users.ts";

/**
 * A Redis that hangs instead of going away: frozen with SIGSTOP, it keeps its port and every
 * connection open, and the kernel still accepts new ones, but nothing is answered. No FIN, no RST:
 * only a timeout can tell. The contract: `/ready` says 503 within ~2 s, sends keep working on each
 * instance (local fan-out), and once Redis answers again everything recovers by itself.
 *
 * Always a private `redis-server`: the shared one on 6379 is never frozen.
 */
const JWT_SECRET = "redis-faults-test-secret-0123456789abcdef";
/** The deadlines the contract allows: to notice a hung Redis, to answer a send meanwhile. */
const NOTICED_WITHIN_MS = 2000;
const FREEZE_MS = 6000;

if (!redisServerInstalled) console.warn("Redis fault tests skipped: redis-server is not installed");

/** Polls `/ready` until it answers `status`; resolves with how long that took. */
async function readyBecomes(url: string, status: number, timeoutMs = 5000): Promise<number> {
  const startedAt = Date.now();
  let last = 0;
  while (Date.now() - startedAt < timeoutMs) {
    last = (await fetch(`${url}/ready`)).status;
    if (last === status) return Date.now() - startedAt;
    await Bun.sleep(50);
  }
  throw new Error(`/ready stayed ${last}, expected ${status}`);
}

/** Resolves once `condition` holds, polling; fails after `timeoutMs`. */
async function eventually(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(!redisServerInstalled)("a hung Redis: two instances on one store", () => {
  let mongo: TestMongo;
  let redis: PrivateRedis;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    mongo = await testMongo();
    redis = await privateRedis();
    const env = { REDIS_URL: redis.url, JWT_SECRET };
    // Production timing (1 s Redis timeout, a ping a second): the deadlines hold as deployed.
    const options = { mongo, realtime: { namespace: `faults-${crypto.randomUUID().slice(0, 8)}` } };
    [a, b] = await Promise.all([startTestApp(env, options), startTestApp(env, options)]);
  });
  afterAll(async () => {
    redis?.thaw();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.kill();
    await mongo?.stop();
  });

  test("counts as down, keeps sending locally, and recovers by itself with a 1012", async () => {
    const [alice, bob, carol] = await Promise.all([
      registerUser(a.api, "Alice"),
      registerUser(a.api, "Bob"),
      registerUser(a.api, "Carol"),
    ]);
    const aliceBob = await chatBetween(a.api, alice, bob);
    const aliceCarol = await chatBetween(a.api, alice, carol);
    // Alice and Bob on A, Carol on B.
    const aliceOnA = await a.socket(alice.token);
    const bobOnA = await a.socket(bob.token);
    const carolOnB = await b.socket(carol.token);
    await Promise.all([aliceOnA, bobOnA, carolOnB].map((s) => s.next("online-users")));
    await Promise.all([readyBecomes(a.url, 200), readyBecomes(b.url, 200)]);

    // Given Redis hangs, when Alice sends at once (before anything noticed),
    redis.freeze();
    const frozenAt = Date.now();
    try {
      aliceOnA.send("send-message", { chatId: aliceBob, text: "during the freeze" });
      const [ready503, sent, delivered] = await Promise.all([
        Promise.all([readyBecomes(a.url, 503), readyBecomes(b.url, 503)]),
        aliceOnA.next(
          "message-sent",
          (d) => d.message.text === "during the freeze",
          NOTICED_WITHIN_MS,
        ),
        bobOnA.next("new-message", (m) => m.text === "during the freeze", NOTICED_WITHIN_MS),
      ]);
      // then both instances are unready within the deadline,
      for (const elapsed of ready503) expect(elapsed).toBeLessThanOrEqual(NOTICED_WITHIN_MS);
      // her send is acknowledged and reaches Bob on the same instance, all while Redis hangs;
      expect(sent.data.message.text).toBe("during the freeze");
      expect(delivered.data._id).toBe(sent.data.message._id);
      // and a message to Carol, on the other instance, is stored for her to fetch later.
      aliceOnA.send("send-message", { chatId: aliceCarol, text: "stored during the freeze" });
      const stored = (d: any) => d.message.text === "stored during the freeze";
      await aliceOnA.next("message-sent", stored, NOTICED_WITHIN_MS);
      expect((await fetch(`${a.url}/health`)).status).toBe(200);
      expect(aliceOnA.socket.readyState).toBe(WebSocket.OPEN);
      await Bun.sleep(Math.max(0, frozenAt + FREEZE_MS - Date.now()));
    } finally {
      redis.thaw();
    }

    // Once Redis answers again, each instance is ready again by itself,
    await Promise.all([readyBecomes(a.url, 200), readyBecomes(b.url, 200)]);
    // and tells every socket to reconnect and resume, since events may have been missed.
    for (const socket of [aliceOnA, bobOnA, carolOnB]) expect(await socket.closed()).toBe(1012);

    const aliceAgain = await a.socket(alice.token);
    const carolAgain = await b.socket(carol.token);
    carolAgain.send("join-chat", { chatId: aliceCarol, after: 0 });
    await carolAgain.next("chat-joined");
    expect((await carolAgain.next("new-message")).data.text).toBe("stored during the freeze");
    // Across instances again: Alice on A, Carol on B.
    aliceAgain.send("send-message", { chatId: aliceCarol, text: "redis answers again" });
    await carolAgain.next("new-message", (m) => m.text === "redis answers again");
    await Promise.all([aliceAgain.close(), carolAgain.close()]);
  }, 30_000);
});

describe.skipIf(!redisServerInstalled)("one Redis connection at fault", () => {
  let redis: PrivateRedis;
  const log = createLogger("silent");
  const TIMING = { timeoutMs: 500, pingMs: 250 };
  const opened: RedisConnection[] = [];

  beforeAll(async () => {
    redis = await privateRedis();
  });
  afterEach(async () => {
    redis.thaw();
    for (const connection of opened.splice(0)) await connection.close();
  });
  afterAll(async () => {
    await redis?.kill();
  });

  function connection(role: "commands" | "subscriber") {
    let ready = 0;
    const redisConnection = new RedisConnection({
      url: redis.url,
      role,
      log,
      ...TIMING,
      setup:
        role === "subscriber"
          ? (client: RedisClient) => client.subscribe(`faults-${crypto.randomUUID()}`, () => {})
          : undefined,
    });
    redisConnection.onReady(() => ready++);
    redisConnection.start();
    opened.push(redisConnection);
    return { redis: redisConnection, readies: () => ready };
  }

  test("a silent connection is found by its ping with nobody sending, commands and subscriber alike", async () => {
    const commands = connection("commands");
    const subscriber = connection("subscriber");
    await eventually(() => commands.redis.up && subscriber.redis.up, 5000, "connected");

    redis.freeze();
    // Within a ping interval and a timeout (plus slack for a busy machine), with no command sent.
    const window = TIMING.pingMs + TIMING.timeoutMs + 1000;
    await eventually(() => !commands.redis.up, window, "commands connection down");
    await eventually(() => !subscriber.redis.up, window, "subscriber connection down");

    redis.thaw();
    await eventually(() => commands.redis.up && subscriber.redis.up, 5000, "reconnected");
    expect(commands.readies()).toBeGreaterThanOrEqual(2);
    expect(subscriber.readies()).toBeGreaterThanOrEqual(2);
  });

  test("with its commands connection lost, the broker still reaches this instance's sockets", async () => {
    // Commands towards a port nobody listens on; the subscription on the live Redis.
    const commands = new RedisConnection({ url: "redis://127.0.0.1:1", role: "commands", log });
    commands.start();
    opened.push(commands);
    const broker = new RedisBroker({ url: redis.url, log, ...TIMING }, commands, "faults:fanout");
    const delivered: string[] = [];
    broker.attach({ publish: (topic, data) => delivered.push(`${topic} ${data}`) });
    const outsider = new RedisClient(redis.url);
    try {
      // Its subscription works (what another instance publishes arrives), so the broker would be
      // tempted to leave its own publish to Redis, which it cannot reach.
      // A publish nobody receives is lost: publish until the subscription counts as a receiver.
      let receivers = 0;
      for (let i = 0; i < 100 && receivers === 0; i++) {
        receivers = await outsider.publish("faults:fanout", "user:2\nfrom elsewhere");
        if (receivers === 0) await Bun.sleep(50);
      }
      await eventually(() => delivered.length > 0, 5000, "delivered");
      expect(delivered).toEqual(["user:2 from elsewhere"]);
      broker.publish("user:1", "hello");
      expect(delivered).toEqual(["user:2 from elsewhere", "user:1 hello"]);
    } finally {
      outsider.close();
      await broker.close();
    }
  });

  test("a command Redis does not answer fails, and its late reply does not confuse the next", async () => {
    const commands = connection("commands");
    await eventually(() => commands.redis.up, 5000, "connected");
    await commands.redis.send("SET", ["faults:first", "first"]);
    await commands.redis.send("SET", ["faults:second", "second"]);

    redis.freeze();
    // It times out, or its connection is dropped under it when a ping times out first.
    await expect(commands.redis.send("GET", ["faults:first"])).rejects.toThrow();
    expect(commands.redis.up).toBe(false);
    // Meanwhile commands fail at once: callers use their local fallback.
    await expect(commands.redis.send("GET", ["faults:first"])).rejects.toMatchObject({
      code: "ERR_REDIS_DOWN",
    });

    redis.thaw();
    await eventually(() => commands.redis.up, 5000, "reconnected");
    expect(await commands.redis.send("GET", ["faults:second"])).toBe("second");
  });
});
