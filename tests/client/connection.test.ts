import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  type Client,
  type ClientError,
  type ClientOptions,
  createClient,
  type Message,
  type Typing,
} from "../../src/client/index.ts";
import { type Balancer, startBalancer } from "../support/balancer.ts";
import {
  memoryStorage,
  reached,
  recordMessages,
  recordStatuses,
  waitFor,
} from "../support/client.ts";
import { type SpawnedInstance, spawnInstance } from "../support/cluster.ts";
import { type TestMongo, testMongo } from "../support/mongo.ts";
import { chatBetween, registerUser, type TestUser } from "../support/users.ts";

/**
 * The SDK against one real server process behind the test balancer: dead sockets, sign-outs,
 * refused tokens, the outbox across a restart of the app, typing, presence and refused sends.
 */
const JWT_SECRET = "client-connection-test-secret-0123456789abcd";

describe("the client SDK's connection", () => {
  let mongo: TestMongo;
  let server: SpawnedInstance;
  let balancer: Balancer;
  let alice: TestUser;
  let bob: TestUser;
  let chatId: string;
  const clients: Client[] = [];

  function connect(user: TestUser | undefined, options: Partial<ClientOptions> = {}): Client {
    const client = createClient({ baseUrl: balancer.url, token: user?.token, ...options });
    clients.push(client);
    return client;
  }
  const isOpen = (client: Client) => () => client.status === "open";

  async function stored(): Promise<Message[]> {
    const res = await server.api(`/api/messages/chat/${chatId}?after=0&limit=100`, {
      token: alice.token,
    });
    return res.body.messages;
  }

  beforeAll(async () => {
    mongo = await testMongo();
    server = await spawnInstance({ JWT_SECRET }, { mongo, realtime: {} });
    balancer = startBalancer([server.url]);
    [alice, bob] = await Promise.all([
      registerUser(server.api, "Alice"),
      registerUser(server.api, "Bob"),
    ]);
    chatId = await chatBetween(server.api, alice, bob);
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    balancer.filter = undefined;
    balancer.silent = false;
  });

  afterAll(async () => {
    balancer?.stop();
    await server?.kill();
    await mongo?.stop();
  });

  test("a socket gone silent is found dead within two heartbeats, and the client reconnects", async () => {
    const client = connect(alice, { heartbeatMs: 300 });
    const statuses = recordStatuses(client);
    await waitFor("open", isOpen(client));

    balancer.silent = true;
    const silentAt = Date.now();
    await waitFor("the dead socket to be noticed", reached(statuses, "reconnecting"));
    expect(Date.now() - silentAt).toBeLessThan(2 * 300 + 200);
    balancer.silent = false;
    await waitFor("open again", reached(statuses, "open", 2), 5000);
    const message = await client.chat(chatId, { after: 1e9 }).send("after a silent network");
    expect(message.text).toBe("after a silent network");
  });

  test("an unacknowledged send outlives the client: the next one with its storage resends it, stored once", async () => {
    const storage = memoryStorage();
    const first = connect(alice, { storage });
    await waitFor("open", isOpen(first));
    // The server stores it, and the acknowledgement is lost on the way.
    balancer.filter = (frame) => !frame.includes('"event":"message-sent"');
    const sending = first.chat(chatId, { after: 1e9 }).send("sent once, acknowledged later");
    await waitFor("the message to be stored", () => storage.items.size === 1);
    let storedNow: Message[] = [];
    await waitFor("the server to store it", () => {
      void stored().then((m) => {
        storedNow = m;
      });
      return storedNow.some((m) => m.text === "sent once, acknowledged later");
    });
    first.close();
    const error = (await sending.catch((e: ClientError) => e)) as ClientError;
    expect(error.code).toBe("CLOSED");
    const [entry] = JSON.parse([...storage.items.values()][0]!);
    expect(entry.text).toBe("sent once, acknowledged later");

    // The app starts again.
    balancer.filter = undefined;
    const second = connect(alice, { storage });
    const chat = second.chat(chatId);
    const delivered = recordMessages(chat);
    await waitFor("the outbox to empty", () => storage.items.size === 0);
    expect(chat.pending()).toEqual([]);
    const matching = (await stored()).filter((m) => m.text === "sent once, acknowledged later");
    expect(matching).toHaveLength(1);
    expect(matching[0]!.clientId).toBe(entry.clientId);
    await waitFor(
      "the chat to catch up",
      () => delivered.at(-1)?.seq === chat.seq && chat.seq >= matching[0]!.seq,
    );
    expect(delivered.filter((m) => m.clientId === entry.clientId)).toHaveLength(1);
  });

  test("a send made while the server cannot be reached waits in storage for the next start", async () => {
    const storage = memoryStorage();
    const offline = createClient({ baseUrl: "http://127.0.0.1:9", token: alice.token, storage });
    const sending = offline.chat(chatId).send("written offline");
    await waitFor("the message to be stored", () => storage.items.size === 1);
    offline.close();
    expect(((await sending.catch((e) => e)) as ClientError).code).toBe("CLOSED");

    connect(alice, { storage });
    await waitFor("the outbox to empty", () => storage.items.size === 0);
    expect((await stored()).filter((m) => m.text === "written offline")).toHaveLength(1);
  });

  test("logout-all closes the socket with 1008; the client asks token() again and carries on", async () => {
    const carol = await registerUser(server.api, "Carol");
    const carolsChat = await chatBetween(server.api, carol, alice);
    let calls = 0;
    const client = connect(undefined, {
      token: async () => {
        calls++;
        if (calls === 1) return carol.token;
        const res = await server.api("/api/auth/login", {
          body: { email: carol.email, password: "correct horse battery" },
        });
        return res.body.token;
      },
    });
    const statuses = recordStatuses(client);
    await waitFor("open", isOpen(client));
    const { error } = await client.api.api.auth["logout-all"].post();
    expect(error).toBeNull();
    await waitFor("open on a fresh token", reached(statuses, "open", 2), 5000);
    expect(calls).toBe(2);
    expect((await client.chat(carolsChat).send("still here")).text).toBe("still here");
  });

  test("a 1008 close with no fresh token to be had stops the client with an error", async () => {
    const dave = await registerUser(server.api, "Dave");
    let calls = 0;
    const client = connect(undefined, {
      token: () => {
        calls++;
        return dave.token;
      },
    });
    const errors: ClientError[] = [];
    client.on("error", (e) => errors.push(e));
    await waitFor("open", isOpen(client));
    await server.api("/api/auth/logout-all", { method: "POST", token: dave.token });
    await waitFor("closed", () => client.status === "closed", 5000);
    expect(calls).toBe(2);
    expect(errors.map((e) => e.code)).toEqual(["UNAUTHORIZED"]);
  });

  test("a refused upgrade (401) asks token() again; a token that cannot be refreshed stops the client", async () => {
    const tokens = ["not-a-token", alice.token];
    const recovering = connect(undefined, { token: () => tokens.shift()! });
    await waitFor("open with the second token", isOpen(recovering), 5000);

    const fixed = connect(undefined, { token: "not-a-token" });
    const errors: ClientError[] = [];
    fixed.on("error", (e) => errors.push(e));
    await waitFor("closed", () => fixed.status === "closed", 5000);
    expect(errors.map((e) => e.code)).toEqual(["UNAUTHORIZED"]);
  });

  test("typing(true) ends by itself with isTyping: false, and presence follows the other user", async () => {
    const bobs = connect(bob);
    const heard: Typing[] = [];
    const bobsChat = bobs.chat(chatId, { after: 1e9 });
    bobsChat.on("typing", (t) => heard.push(t));
    // Bob's join is handled before his send: once it is acknowledged he is in the chat's topic.
    await bobsChat.send("typing test");

    const alices = connect(alice, { typingTimeoutMs: 300 });
    const online: string[][] = [];
    alices.on("presence", ({ online: ids }) => online.push([...ids]));
    const chat = alices.chat(chatId, { after: 1e9 });
    await waitFor("open", isOpen(alices));
    await waitFor("Bob online", () => online.at(-1)?.includes(bob.id) === true);
    chat.typing(true);
    chat.typing(true);
    await waitFor("typing to start and stop", () => heard.length >= 2);
    expect(heard.map((t) => t.isTyping)).toEqual([true, false]);
    expect(heard[0]).toEqual({ chatId, userId: alice.id, isTyping: true });

    bobs.close();
    await waitFor("Bob offline", () => online.at(-1)?.includes(bob.id) === false);
  });

  test("sends past the rate limit are retried after retryAfter; invalid ones are refused", async () => {
    const client = connect(alice);
    const chat = client.chat(chatId, { after: 1e9 });
    const texts = Array.from({ length: 40 }, (_, i) => `burst ${i}`);
    const results = await Promise.all(texts.map((text) => chat.send(text)));
    expect(results.map((m) => m.text)).toEqual(texts);
    const all = await stored();
    for (const text of texts) expect(all.filter((m) => m.text === text)).toHaveLength(1);

    const refused = (await chat.send("   ").catch((e) => e)) as ClientError;
    expect(refused.code).toBe("VALIDATION");
    expect(chat.pending()).toEqual([]);

    const errors: ClientError[] = [];
    client.on("error", (e) => errors.push(e));
    client.chat("0123456789abcdef01234567");
    await waitFor("the join to be refused", () => errors.length > 0);
    expect(errors[0]!.code).toBe("NOT_FOUND");
  });
});
