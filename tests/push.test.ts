import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { MongoClient } from "mongodb";
import { ConfigError, loadConfig } from "../src/config.ts";
import { startTestApp } from "./support/app.ts";
import {
  canScaleOut,
  clearNamespace,
  type PrivateRedis,
  privateRedis,
  SHARED_REDIS_URL,
  type SpawnedInstance,
  sharedRedisUp,
  spawnInstance,
  TEST_TIMING,
} from "./support/cluster.ts";
import { type FakeExpo, RECEIPTS_PATH, SEND_PATH, startFakeExpo } from "./support/fake-expo.ts";
import type { Api } from "./support/http.ts";
import { type TestMongo, testMongo } from "./support/mongo.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * Push notifications to the Expo app (the contract's "Push notifications"). `expo-server-sdk`
 * reads EXPO_BASE_URL once, at import, so the app runs in child processes pointed at a fake Expo;
 * receipts are read 1 s after a push and retries start at 50 ms (15 min and 1 s in production).
 */
const JWT_SECRET = "push-test-secret-0123456789abcdef0123";
const ACCESS_TOKEN = "expo-access-token-for-tests";
const PUSH_ENV = {
  JWT_SECRET,
  EXPO_PUSH_ENABLED: "true",
  EXPO_ACCESS_TOKEN: ACCESS_TOKEN,
  PUSH_RECEIPT_DELAY_MS: "1000",
  PUSH_RETRY_BASE_MS: "50",
};

// Every wait below gives up (and says what it waited for) well before this.
setDefaultTimeout(15_000);

let mongo: TestMongo;
let expo: FakeExpo;
let server: SpawnedInstance;
let client: MongoClient;

beforeAll(async () => {
  [mongo, expo] = await Promise.all([testMongo(), startFakeExpo()]);
  server = await spawnInstance({ ...PUSH_ENV, ...expo.env }, { mongo, realtime: {} });
  client = new MongoClient(mongo.uri);
});
afterAll(async () => {
  await server?.kill();
  await client?.close();
  await expo?.stop();
  await mongo?.stop();
});

/** A token as `getExpoPushTokenAsync` makes them: 22 characters in brackets. */
function expoToken(): string {
  return `ExponentPushToken[${crypto.randomUUID().replaceAll("-", "").slice(0, 22)}]`;
}

const devices = () => client.db(mongo.dbName).collection("devices");
const stored = async (token: string) => devices().findOne({ token });

function register(api: Api, user: TestUser, token: string, platform = "ios") {
  return api("/api/devices", { token: user.token, body: { token, platform } });
}

function unregister(api: Api, user: TestUser, token: string) {
  return api(`/api/devices/${encodeURIComponent(token)}`, { method: "DELETE", token: user.token });
}

/** A user with one registered device. */
async function withDevice(api: Api, name: string): Promise<{ user: TestUser; token: string }> {
  const user = await registerUser(api, name);
  const token = expoToken();
  const res = await register(api, user, token, "android");
  if (res.status !== 201) throw new Error(`device: ${res.status} ${JSON.stringify(res.body)}`);
  return { user, token };
}

async function send(api: Api, sender: TestUser, chatId: string, text: string): Promise<any> {
  const res = await api(`/api/messages/chat/${chatId}`, { token: sender.token, body: { text } });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.message;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen in ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}

/**
 * Pushes leave one instance in the order their messages were stored, so once a later message's
 * push to `marker` has arrived, an earlier one that was due has arrived too.
 */
async function pushedUpTo(marker: string, count = 1): Promise<void> {
  await expo.until(() => expo.pushesTo(marker).length >= count, 5000, `a push to the marker`);
}

describe("configuration", () => {
  test("off unless EXPO_PUSH_ENABLED=true; Expo's timings by default; bad values stop the start", () => {
    expect(loadConfig({}).push).toBeNull();
    expect(loadConfig({ EXPO_PUSH_ENABLED: "false", EXPO_ACCESS_TOKEN: "x" }).push).toBeNull();
    expect(loadConfig({ EXPO_PUSH_ENABLED: "true" }).push).toEqual({
      accessToken: undefined,
      receiptDelayMs: 900_000,
      retryBaseMs: 1000,
    });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return error instanceof ConfigError ? error.problems : [String(error)];
      }
    };
    expect(problems({ EXPO_PUSH_ENABLED: "yes" })).toEqual([
      expect.stringMatching(/^EXPO_PUSH_ENABLED/),
    ]);
    expect(problems({ PUSH_RECEIPT_DELAY_MS: "5" })).toEqual([
      "PUSH_RECEIPT_DELAY_MS: must be at least 10",
    ]);
    expect(problems({ PUSH_RETRY_BASE_MS: "soon" })).toEqual([
      expect.stringMatching(/^PUSH_RETRY_BASE_MS/),
    ]);
  });
});

describe("registering devices", () => {
  test("201 with the device; 401 without a token; 400 naming a field that is not valid", async () => {
    const alice = await registerUser(server.api, "Alice");
    const token = expoToken();
    const anonymous = await server.api("/api/devices", { body: { token, platform: "ios" } });
    expect(anonymous.status).toBe(401);

    const res = await register(server.api, alice, token);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      device: {
        token,
        platform: "ios",
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    });
    expect((await stored(token))?.user.toHexString()).toBe(alice.id);

    const bad = await register(server.api, alice, "not-an-expo-token");
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("VALIDATION");
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(["token"]);
    const platform = await register(server.api, alice, expoToken(), "blackberry");
    expect(platform.status).toBe(400);
    expect(platform.body.errors.map((e: { path: string }) => e.path)).toEqual(["platform"]);
    expect(await devices().countDocuments({ user: (await stored(token))!.user })).toBe(1);
  });

  test("the same token moves to whoever registers it last; only its owner deletes it (204, else 404)", async () => {
    const [alice, bob] = await Promise.all([
      registerUser(server.api, "Alice"),
      registerUser(server.api, "Bob"),
    ]);
    const token = expoToken();
    expect((await register(server.api, alice, token, "ios")).status).toBe(201);
    const again = await register(server.api, alice, token, "ios");
    expect(again.status).toBe(201);
    const moved = await register(server.api, bob, token, "android");
    expect(moved.status).toBe(201);
    expect(moved.body.device.platform).toBe("android");
    expect(await devices().countDocuments({ token })).toBe(1);
    expect((await stored(token))?.user.toHexString()).toBe(bob.id);

    const notHers = await unregister(server.api, alice, token);
    expect(notHers.status).toBe(404);
    expect(notHers.body.code).toBe("NOT_FOUND");
    expect(await stored(token)).not.toBeNull();
    expect((await unregister(server.api, bob, token)).status).toBe(204);
    expect(await stored(token)).toBeNull();
    expect((await unregister(server.api, bob, token)).status).toBe(404);
    expect(
      (await server.api(`/api/devices/${encodeURIComponent(token)}`, { method: "DELETE" })).status,
    ).toBe(401);
  });

  test("with push off, devices still register; the token never reaches a log line", async () => {
    const lines: string[] = [];
    const local = await startTestApp(
      { LOG_LEVEL: "info" },
      { logTo: { write: (l) => void lines.push(l) } },
    );
    try {
      expect(local.config.push).toBeNull();
      const alice = await registerUser(local.api, "Alice");
      const token = expoToken();
      expect((await register(local.api, alice, token)).status).toBe(201);
      expect((await unregister(local.api, alice, token)).status).toBe(204);
      const requests = () => lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
      // The request line is written once the response has gone.
      await until(async () => requests().some((r) => r.method === "DELETE"), "the DELETE's line");
      expect(requests().find((r) => r.method === "DELETE")?.path).toBe("/api/devices/[redacted]");
      expect(lines.join("\n")).not.toContain(token.slice("ExponentPushToken[".length, -1));
    } finally {
      await local.stop();
    }
  });
});

describe("what is pushed, and to whom", () => {
  test("a 1:1 message goes to the recipient with no socket: title, body, data; never to the sender", async () => {
    const [alice, bob] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
    ]);
    const chatId = await chatBetween(server.api, alice.user, bob.user);
    const message = await send(server.api, alice.user, chatId, "  hello Bob  ");
    await pushedUpTo(bob.token);

    expect(expo.pushesTo(bob.token)).toEqual([
      {
        to: bob.token,
        title: "Alice",
        body: "hello Bob",
        data: { chatId, messageId: message._id, seq: 1 },
        sound: "default",
      },
    ]);
    // Bob answers: now Alice is pushed, and Bob (the sender) is not.
    await send(server.api, bob.user, chatId, "hi Alice");
    await pushedUpTo(alice.token);
    expect(expo.pushesTo(alice.token).map((p) => [p.title, p.body])).toEqual([["Bob", "hi Alice"]]);
    expect(expo.pushesTo(bob.token)).toHaveLength(1);
    const sends = expo.requests.filter((r) => r.path === SEND_PATH);
    expect(sends.every((r) => r.authorization === `Bearer ${ACCESS_TOKEN}`)).toBe(true);
  });

  test("a text over 100 characters is cut to its first 100 code points (no emoji halved)", async () => {
    const [alice, bob] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
    ]);
    const chatId = await chatBetween(server.api, alice.user, bob.user);
    const text = `${"a".repeat(99)}😀${"b".repeat(50)}`;
    await send(server.api, alice.user, chatId, text);
    await pushedUpTo(bob.token);
    expect(expo.pushesTo(bob.token)[0]?.body).toBe(`${"a".repeat(99)}😀`);
    await send(server.api, alice.user, chatId, "x".repeat(100));
    await pushedUpTo(bob.token, 2);
    expect(expo.pushesTo(bob.token)[1]?.body).toBe("x".repeat(100));
  });

  test("a recipient with a socket open is not pushed; once it closes, they are", async () => {
    const [alice, carol, marker] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Carol"),
      withDevice(server.api, "Marker"),
    ]);
    const [toCarol, toMarker] = await Promise.all([
      chatBetween(server.api, alice.user, carol.user),
      chatBetween(server.api, alice.user, marker.user),
    ]);
    const aliceSocket = await server.socket(alice.user.token);
    const carolSocket = await server.socket(carol.user.token);
    await carolSocket.next("online-users");

    await send(server.api, alice.user, toCarol, "you are online");
    await carolSocket.next("new-message");
    await send(server.api, alice.user, toMarker, "after it");
    await pushedUpTo(marker.token);
    expect(expo.pushesTo(carol.token)).toEqual([]);

    await carolSocket.close();
    await aliceSocket.next("user-offline", (d) => d.userId === carol.user.id);
    await send(server.api, alice.user, toCarol, "now you are not");
    await pushedUpTo(carol.token);
    expect(expo.pushesTo(carol.token).map((p) => p.body)).toEqual(["now you are not"]);
    await aliceSocket.close();
  });

  test("a group message is titled '<sender> in <group>' and pushed to every member but the sender", async () => {
    const [alice, bob, carol] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
      withDevice(server.api, "Carol"),
    ]);
    const created = await server.api("/api/chats", {
      token: alice.user.token,
      body: { name: "Hiring panel", participantIds: [bob.user.id, carol.user.id] },
    });
    expect(created.status).toBe(201);
    const chatId = created.body.chat._id;
    const message = await send(server.api, alice.user, chatId, "standup in 5");
    await pushedUpTo(bob.token);
    await pushedUpTo(carol.token);
    for (const member of [bob, carol]) {
      expect(expo.pushesTo(member.token)).toEqual([
        {
          to: member.token,
          title: "Alice in Hiring panel",
          body: "standup in 5",
          data: { chatId, messageId: message._id, seq: message.seq },
          sound: "default",
        },
      ]);
    }
    expect(expo.pushesTo(alice.token)).toEqual([]);
  });
});

describe("tokens Expo no longer knows", () => {
  test("DeviceNotRegistered in a ticket deletes that token at once; the user's other device stays", async () => {
    const alice = await withDevice(server.api, "Alice");
    const bob = await withDevice(server.api, "Bob");
    const gone = expoToken();
    expect((await register(server.api, bob.user, gone)).status).toBe(201);
    expo.unregisterAtSend(gone);
    const chatId = await chatBetween(server.api, alice.user, bob.user);

    await send(server.api, alice.user, chatId, "first");
    await pushedUpTo(bob.token);
    expect(expo.pushesTo(gone)).toHaveLength(1);
    await until(async () => (await stored(gone)) === null, "the token's deletion");
    expect(await stored(bob.token)).not.toBeNull();

    await send(server.api, alice.user, chatId, "second");
    await pushedUpTo(bob.token, 2);
    expect(expo.pushesTo(gone)).toHaveLength(1);
  });

  test("DeviceNotRegistered in a receipt deletes the token, unless it was registered again since", async () => {
    const [alice, bob, dan] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
      withDevice(server.api, "Dan"),
    ]);
    expo.unregisterAtReceipt(bob.token);
    expo.unregisterAtReceipt(dan.token);
    const [toBob, toDan] = await Promise.all([
      chatBetween(server.api, alice.user, bob.user),
      chatBetween(server.api, alice.user, dan.user),
    ]);
    const receiptsBefore = expo.receiptQueries.length;
    // Dan's receipt is read no later than Bob's: once Bob's token is gone, Dan's was judged.
    await send(server.api, alice.user, toDan, "to a reinstalled app");
    await send(server.api, alice.user, toBob, "to an uninstalled app");
    await pushedUpTo(dan.token);
    // Dan's app starts again and registers its token, after the push and before its receipt.
    expect((await register(server.api, dan.user, dan.token)).status).toBe(201);

    await until(async () => (await stored(bob.token)) === null, "the token's deletion");
    expect(expo.receiptQueries.length).toBeGreaterThan(receiptsBefore);
    expect(expo.requests.some((r) => r.path === RECEIPTS_PATH && r.status === 200)).toBe(true);
    expect(await stored(dan.token)).not.toBeNull();

    await send(server.api, alice.user, toBob, "nobody gets this");
    await send(server.api, alice.user, toDan, "Dan does");
    await pushedUpTo(dan.token, 2);
    expect(expo.pushesTo(bob.token)).toHaveLength(1);
  });
});

describe("a failing Expo", () => {
  test("500 twice, then ok: the push arrives on the third try", async () => {
    const [alice, bob] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
    ]);
    const chatId = await chatBetween(server.api, alice.user, bob.user);
    const before = expo.requests.length;
    expo.failNext(2, 500);
    await send(server.api, alice.user, chatId, "eventually");
    await pushedUpTo(bob.token);
    const statuses = expo.requests
      .slice(before)
      .filter((r) => r.path === SEND_PATH)
      .map((r) => r.status);
    expect(statuses).toEqual([500, 500, 200]);
    expect(expo.pushesTo(bob.token)).toHaveLength(1);
  });

  test("429 past the SDK's own two retries: backed off and retried again", async () => {
    const [alice, bob] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
    ]);
    const chatId = await chatBetween(server.api, alice.user, bob.user);
    const before = expo.requests.length;
    expo.failNext(4, 429);
    await send(server.api, alice.user, chatId, "slow down");
    await pushedUpTo(bob.token);
    const statuses = expo.requests
      .slice(before)
      .filter((r) => r.path === SEND_PATH)
      .map((r) => r.status);
    expect(statuses).toEqual([429, 429, 429, 429, 200]);
  });

  test("a hanging Expo neither slows nor fails sends: 20 acknowledged and stored, pushed once it answers", async () => {
    const [alice, bob] = await Promise.all([
      withDevice(server.api, "Alice"),
      withDevice(server.api, "Bob"),
    ]);
    const chatId = await chatBetween(server.api, alice.user, bob.user);
    expo.hang();
    let socket: TestSocket | undefined;
    try {
      socket = await server.socket(alice.user.token);
      for (let i = 0; i < 20; i++) {
        socket.send("send-message", { chatId, text: `m${i}`, clientId: `hang-${i}` });
      }
      for (let i = 0; i < 20; i++) {
        const ack = await socket.next("message-sent", (d) => d.clientId === `hang-${i}`);
        expect(ack.data.message.seq).toBe(i + 1);
      }
      const rest = await send(server.api, alice.user, chatId, "and one over REST");
      expect(rest.seq).toBe(21);
      const history = await server.api(`/api/messages/chat/${chatId}?limit=100`, {
        token: bob.user.token,
      });
      expect(history.body.messages).toHaveLength(21);
      // The push was really on its way, and really stuck.
      await expo.until(() => expo.held > 0, 2000, "a request held");
      expect(expo.pushesTo(bob.token)).toHaveLength(0);
    } finally {
      expo.release();
      await socket?.close();
    }
    await expo.until(() => expo.pushesTo(bob.token).length === 21, 5000, "every push");
    expect(expo.pushesTo(bob.token).map((p) => p.data?.seq)).toEqual(
      Array.from({ length: 21 }, (_, i) => i + 1),
    );
  });
});

describe.skipIf(!canScaleOut)("two instances behind one Redis", () => {
  let shared: TestMongo;
  let redis: PrivateRedis | undefined;
  let redisUrl: string;
  let a: SpawnedInstance;
  let b: SpawnedInstance;
  const namespace = `test-${crypto.randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    shared = await testMongo();
    redis = sharedRedisUp ? undefined : await privateRedis();
    redisUrl = redis?.url ?? SHARED_REDIS_URL;
    const env = { ...PUSH_ENV, ...expo.env, REDIS_URL: redisUrl };
    const options = { mongo: shared, realtime: { ...TEST_TIMING, namespace } };
    [a, b] = await Promise.all([spawnInstance(env, options), spawnInstance(env, options)]);
    for (const instance of [a, b]) {
      await until(
        async () => (await fetch(`${instance.url}/ready`)).status === 200,
        "/ready",
        5000,
      );
    }
  });
  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await clearNamespace(redisUrl, namespace);
    await redis?.kill();
    await shared?.stop();
  });

  test("a recipient whose only socket is on the other instance gets no push; one with none gets exactly one", async () => {
    const [alice, dave, erin] = await Promise.all([
      withDevice(a.api, "Alice"),
      withDevice(a.api, "Dave"),
      withDevice(b.api, "Erin"),
    ]);
    const [toDave, toErin] = await Promise.all([
      chatBetween(a.api, alice.user, dave.user),
      chatBetween(a.api, alice.user, erin.user),
    ]);
    const daveOnB = await b.socket(dave.user.token);
    await daveOnB.next("online-users");

    await send(a.api, alice.user, toDave, "you are on B");
    await daveOnB.next("new-message");
    await send(a.api, alice.user, toErin, "you are nowhere");
    await pushedUpTo(erin.token);
    // Whatever B might push would be as quick as A's push.
    await Bun.sleep(300);
    expect(expo.pushesTo(dave.token)).toEqual([]);
    expect(expo.pushesTo(erin.token).map((p) => p.body)).toEqual(["you are nowhere"]);
    expect(expo.pushesTo(alice.token)).toEqual([]);
    await daveOnB.close();
  });
});
