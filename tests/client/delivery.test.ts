import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  type ChatChannel,
  type Client,
  createClient,
  type Message,
  type Status,
} from "../../src/client/index.ts";
import { type Balancer, startBalancer } from "../support/balancer.ts";
import { recordMessages, recordStatuses, waitFor } from "../support/client.ts";
import {
  type PrivateRedis,
  privateRedis,
  redisServerInstalled,
  type SpawnedInstance,
  spawnInstance,
} from "../support/cluster.ts";
import { type TestMongo, testMongo } from "../support/mongo.ts";
import { chatBetween, registerUser, type TestUser } from "../support/users.ts";

/**
 * The SDK's promise to an app, under every fault the server's README lists: two users chat
 * through real server processes while the test drops frames, restarts Redis (every instance
 * closes its sockets with 1012), kills the instance one of them is on (the balancer sends it to
 * the other), and kills the last instance and starts it again on the same port. At the end each
 * app saw each message exactly once, in `seq` order, every send resolved once, and the server
 * stored exactly what was sent.
 *
 * Alice reaches the instances through a load balancer (B first, then A); Bob talks to A directly,
 * so he is cut off whenever A is down.
 */
if (!redisServerInstalled)
  console.warn("client delivery tests skipped: redis-server is not installed");

const JWT_SECRET = "client-delivery-test-secret-0123456789abcdef";
/** Short enough to keep the test quick; the policy itself is tested with its defaults. */
const CLIENT_TIMING = { heartbeatMs: 1000, reconnect: { maxMs: 1500 } };

interface Side {
  user: TestUser;
  client: Client;
  chat: ChatChannel;
  delivered: Message[];
  statuses: Status[];
}

describe.skipIf(!redisServerInstalled)("a chat through the SDK while the servers fail", () => {
  let mongo: TestMongo;
  let redis: PrivateRedis;
  let a: SpawnedInstance;
  let b: SpawnedInstance;
  let balancer: Balancer;
  let chatId: string;
  let alice: Side;
  let bob: Side;
  const spawn = (port?: number) =>
    spawnInstance(
      { REDIS_URL: redis.url, JWT_SECRET },
      { mongo, realtime: { heartbeatMs: 250, expiryMs: 2000, namespace: "client" }, port },
    );

  /** Every text sent, and what each send's promise settled with, each time it settled. */
  const sent: string[] = [];
  const settled = new Map<string, (Message | Error)[]>();
  const inFlight: Promise<unknown>[] = [];
  function say(side: Side, text: string): void {
    sent.push(text);
    settled.set(text, []);
    inFlight.push(
      side.chat.send(text).then(
        (message) => settled.get(text)!.push(message),
        (error: Error) => settled.get(text)!.push(error),
      ),
    );
  }
  async function allDelivered(timeoutMs = 15_000): Promise<void> {
    await Promise.all(inFlight);
    for (const side of [alice, bob]) {
      await waitFor(
        `${side.user.name} to get all ${sent.length} messages`,
        () => side.delivered.length >= sent.length,
        timeoutMs,
      );
    }
  }

  function side(user: TestUser, baseUrl: string): Side {
    const client = createClient({ baseUrl, token: () => user.token, ...CLIENT_TIMING });
    const chat = client.chat(chatId);
    return {
      user,
      client,
      chat,
      delivered: recordMessages(chat),
      statuses: recordStatuses(client),
    };
  }

  beforeAll(async () => {
    [mongo, redis] = await Promise.all([testMongo(), privateRedis()]);
    [a, b] = await Promise.all([spawn(), spawn()]);
    balancer = startBalancer([b.url, a.url]);
    const [aliceUser, bobUser] = await Promise.all([
      registerUser(a.api, "Alice"),
      registerUser(a.api, "Bob"),
    ]);
    chatId = await chatBetween(a.api, aliceUser, bobUser);
    alice = side(aliceUser, balancer.url);
    bob = side(bobUser, a.url);
    await waitFor(
      "both clients to open",
      () => alice.client.status === "open" && bob.client.status === "open",
    );
  });

  afterAll(async () => {
    alice?.client.close();
    bob?.client.close();
    balancer?.stop();
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.kill();
    await mongo?.stop();
  });

  test("each app sees 1..n exactly once, every send resolves once, the server stores exactly what was sent", async () => {
    // Warm-up: both ways, at once.
    for (let i = 1; i <= 3; i++) {
      say(alice, `hello ${i} from alice`);
      say(bob, `hello ${i} from bob`);
    }
    await allDelivered();

    // 1. Frames lost on the way: Alice's socket never gets two of Bob's messages. The next one
    // shows her `seq` jump, and the SDK fetches the gap over REST before delivering it, on the
    // same socket.
    const lost = new Set(["dropped 1", "dropped 2"]);
    balancer.filter = (frame) => {
      const { event, data } = JSON.parse(frame);
      return !(event === "new-message" && lost.has(data.text));
    };
    const statusesBefore = alice.statuses.length;
    for (const text of [...lost, "after the drop"]) say(bob, text);
    await allDelivered();
    balancer.filter = undefined;
    expect(alice.statuses.length).toBe(statusesBefore);
    expect(
      balancer.requests.some((r) => r.startsWith(`GET /api/messages/chat/${chatId}?after=`)),
    ).toBe(true);

    // 2. Redis goes away: fan-out is local meanwhile (Alice is on B, Bob on A, so they miss each
    // other's messages), and when it is back every instance closes its sockets with 1012.
    const opened = [alice, bob].map((s) => s.statuses.filter((x) => x === "open").length);
    await redis.kill();
    await Bun.sleep(1200);
    say(alice, "while redis is down, from alice");
    say(bob, "while redis is down, from bob");
    await Promise.all(inFlight);
    await redis.restart();
    await waitFor("both to reconnect after 1012", () =>
      [alice, bob].every((s, i) => s.statuses.filter((x) => x === "open").length > opened[i]!),
    );
    await allDelivered();

    // 3. Alice's instance dies: the balancer sends her reconnect to A. A send made just before
    // may have been stored with its acknowledgement lost; the resend is stored once.
    say(alice, "just before B dies");
    await b.kill();
    say(alice, "while B is dead, 1");
    say(bob, "while B is dead, from bob");
    say(alice, "while B is dead, 2");
    await allDelivered();

    // 4. The last instance dies too, and starts again on the same port: both are cut off, keep
    // their sends, and resume on the new process.
    say(bob, "just before A dies");
    await a.kill();
    say(alice, "while everything is down, from alice");
    say(bob, "while everything is down, from bob");
    await Bun.sleep(500);
    expect(alice.client.status).not.toBe("open");
    expect(bob.client.status).not.toBe("open");
    a = await spawn(a.port);
    await allDelivered(20_000);

    // Each app: exactly 1..n, once each, in order.
    const n = sent.length;
    const oneToN = Array.from({ length: n }, (_, i) => i + 1);
    for (const { delivered } of [alice, bob]) {
      expect(delivered.map((m) => m.seq)).toEqual(oneToN);
      expect(delivered.map((m) => m.text).sort()).toEqual([...sent].sort());
    }
    // Every send resolved exactly once, with its own stored message.
    for (const text of sent) {
      const outcomes = settled.get(text)!;
      expect(outcomes).toHaveLength(1);
      expect((outcomes[0] as Message).text).toBe(text);
    }
    // The server stored exactly what was sent, read through the SDK's typed REST client.
    const { data, error } = await alice.client.api.api.messages
      .chat({ chatId })
      .get({ query: { after: 0, limit: 100 } });
    expect(error).toBeNull();
    expect(data!.messages.map((m) => m.seq)).toEqual(oneToN);
    expect(data!.messages.map((m) => m.text).sort()).toEqual([...sent].sort());
    // Nothing is left to send.
    expect(alice.chat.pending()).toEqual([]);
    expect(bob.chat.pending()).toEqual([]);
  }, 60_000);
});
