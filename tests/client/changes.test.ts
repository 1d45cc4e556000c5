import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  type Chat,
  type ChatChannel,
  type Client,
  ClientError,
  type ClientOptions,
  createClient,
  type Message,
} from "../../src/client/index.ts";
import { type Balancer, startBalancer } from "../support/balancer.ts";
import { createGroup } from "../support/chats.ts";
import { recordChat, waitFor } from "../support/client.ts";
import { type SpawnedInstance, spawnInstance } from "../support/cluster.ts";
import { type TestMongo, testMongo } from "../support/mongo.ts";
import { chatBetween, registerUser, type TestUser } from "../support/users.ts";

/**
 * Replies, edits, deletions and reactions through the SDK, against a real server process. Alice's
 * client talks to the server directly; Bob's goes through the test balancer, so that the test can
 * take his socket away (and keep it away) while Alice changes the chat, then see what his app
 * learns when he is back: each new message once and in `seq` order, each change once.
 */
const JWT_SECRET = "client-changes-test-secret-0123456789abcdef";
const CLIENT_TIMING = { heartbeatMs: 1000, reconnect: { baseMs: 200, maxMs: 400 } };

describe("message changes through the client SDK", () => {
  let mongo: TestMongo;
  let server: SpawnedInstance;
  let balancer: Balancer;
  let alice: TestUser;
  let bob: TestUser;
  let aliceClient: Client;
  let bobClient: Client;
  const extra: Client[] = [];
  /** Every frame the server sent Bob's socket, as `event` and `data`. */
  const toBob: { event: string; data: any }[] = [];

  function connect(user: TestUser, baseUrl: string, options: Partial<ClientOptions> = {}) {
    return createClient({ baseUrl, token: () => user.token, ...CLIENT_TIMING, ...options });
  }

  /** A new group of Alice and Bob, followed by both clients. */
  async function both(): Promise<{ chatId: string; mine: ChatChannel; theirs: ChatChannel }> {
    const chat = await createGroup(server.api, alice, [bob]);
    return { chatId: chat._id, mine: aliceClient.chat(chat._id), theirs: bobClient.chat(chat._id) };
  }

  /** Bob's socket goes, and no new one gets through until `back()`. */
  async function bobAway(): Promise<() => Promise<void>> {
    balancer.backends = [];
    balancer.cut();
    await waitFor("Bob to be disconnected", () => bobClient.status !== "open");
    return async () => {
      balancer.backends = [server.url];
      await waitFor("Bob to be back", () => bobClient.status === "open");
    };
  }

  /** A moment for frames still in flight, so that a repeat would have arrived by now. */
  async function settle(): Promise<void> {
    await Bun.sleep(300);
  }

  beforeAll(async () => {
    mongo = await testMongo();
    server = await spawnInstance({ JWT_SECRET }, { mongo, realtime: {} });
    balancer = startBalancer([server.url]);
    balancer.filter = (frame) => {
      toBob.push(JSON.parse(frame));
      return true;
    };
    [alice, bob] = await Promise.all([
      registerUser(server.api, "Alice"),
      registerUser(server.api, "Bob"),
    ]);
    aliceClient = connect(alice, server.url);
    bobClient = connect(bob, balancer.url);
    await waitFor(
      "both clients to open",
      () => aliceClient.status === "open" && bobClient.status === "open",
    );
  });

  afterEach(() => {
    for (const client of extra.splice(0)) client.close();
    balancer.backends = [server.url];
  });

  afterAll(async () => {
    aliceClient?.close();
    bobClient?.close();
    balancer?.stop();
    await server?.kill();
    await mongo?.stop();
  });

  test("a reply quotes its original both ways; a replyTo from another chat is refused", async () => {
    const { chatId, mine, theirs } = await both();
    const bobSaw = recordChat(theirs);
    const question = await mine.send("Which editor do you use?");

    const reply = await theirs.send("Vim, of course", { replyTo: question._id });

    expect(reply.replyTo).toEqual({
      _id: question._id,
      seq: question.seq,
      text: "Which editor do you use?",
      sender: question.sender,
    });
    await waitFor("Bob's app to have both", () => bobSaw.messages.length === 2);
    expect(bobSaw.messages[1]).toEqual(reply);
    const other = await createGroup(server.api, alice, [bob]);
    const elsewhere = await aliceClient.chat(other._id).send("elsewhere");
    const refused = await mine.send("a stray reply", { replyTo: elsewhere._id }).catch((e) => e);
    expect(refused).toBeInstanceOf(ClientError);
    expect(refused.code).toBe("VALIDATION");
    expect(mine.pending()).toEqual([]);
    expect(chatId).toBe(question.chat);
  });

  test("edits, reactions and a deletion reach the other app once each, and the acting one too", async () => {
    const { mine, theirs } = await both();
    const aliceSaw = recordChat(mine);
    const bobSaw = recordChat(theirs);
    const [first, second] = [await mine.send("first"), await mine.send("second")];
    await waitFor("Bob's app to have both", () => bobSaw.messages.length === 2);

    const edited = await mine.edit(first._id, "first, edited");
    const reacted = await theirs.react(first._id, "👍");
    const deleted = await mine.delete(second._id);
    // The same state asked for again changes nothing: the message's own version.
    const again = await theirs.react(first._id, "👍");

    expect(edited.messageId).toBe(first._id);
    expect(reacted.version).toBeGreaterThan(edited.version);
    expect(deleted.version).toBeGreaterThan(reacted.version);
    expect(again).toEqual(reacted);
    for (const saw of [aliceSaw, bobSaw]) {
      await waitFor("the changes", () => saw.updates.length === 2 && saw.deletes.length === 1);
    }
    await settle();
    for (const saw of [aliceSaw, bobSaw]) {
      expect(saw.messages.map((m) => m.text)).toEqual(["first", "second"]);
      expect(saw.updates.map((m) => [m._id, m.version, m.text])).toEqual([
        [first._id, edited.version, "first, edited"],
        [first._id, reacted.version, "first, edited"],
      ]);
      expect(saw.updates[0]!.editedAt).toEqual(expect.any(String));
      expect(saw.updates[1]!.reactions).toEqual([{ emoji: "👍", userIds: [bob.id] }]);
      expect(saw.deletes).toEqual([
        { chatId: second.chat, messageId: second._id, seq: 2, version: deleted.version },
      ]);
    }
    const bobHeard = toBob.filter((f) => f.data?.messageId === second._id);
    expect(bobHeard.map((f) => f.event)).toEqual(["message-deleted"]);
  });

  test("back from away: each new message once and in seq order, each change once, nothing again after another reconnect", async () => {
    const { chatId, mine, theirs } = await both();
    const bobSaw = recordChat(theirs);
    const old: Message[] = [];
    for (let i = 1; i <= 4; i++) old.push(await mine.send(`old ${i}`));
    await waitFor("Bob's app to have the old ones", () => bobSaw.messages.length === 4);
    const [old1, old2, old3, old4] = old as [Message, Message, Message, Message];

    const back = await bobAway();
    await mine.edit(old1._id, "old 1, edited");
    const new1 = await mine.send("new 1");
    await mine.edit(old2._id, "old 2, edited");
    await mine.react(old3._id, "🎉");
    const new2 = await mine.send("new 2", { replyTo: old3._id });
    await mine.delete(old4._id);
    await mine.edit(new1._id, "new 1, edited");
    await mine.edit(old2._id, "old 2, edited twice");
    await mine.react(old1._id, "👀");
    await mine.react(old1._id, "👀", false);
    expect(bobSaw.messages).toHaveLength(4);
    expect(bobSaw.updates).toEqual([]);
    await back();

    await waitFor(
      "Bob's app to catch up",
      () =>
        bobSaw.messages.length === 6 && bobSaw.updates.length === 3 && bobSaw.deletes.length === 1,
    );
    await settle();
    // The new ones once, by seq, as they are now.
    expect(bobSaw.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, "old 1"],
      [2, "old 2"],
      [3, "old 3"],
      [4, "old 4"],
      [5, "new 1, edited"],
      [6, "new 2"],
    ]);
    expect(bobSaw.messages[5]!.replyTo?._id).toBe(old3._id);
    // The old ones' changes once each, in their latest state: by ascending version.
    expect(bobSaw.updates.map((m) => [m.seq, m.text])).toEqual([
      [3, "old 3"],
      [2, "old 2, edited twice"],
      [1, "old 1, edited"],
    ]);
    expect(bobSaw.updates[0]!.reactions).toEqual([{ emoji: "🎉", userIds: [alice.id] }]);
    expect(bobSaw.updates[2]!.reactions).toEqual([]);
    expect(bobSaw.deletes).toEqual([
      { chatId, messageId: old4._id, seq: 4, version: expect.any(Number) },
    ]);
    // What Bob's app has is what the server has.
    const stored = await server.api(`/api/messages/chat/${chatId}?after=0&limit=100`, {
      token: bob.token,
    });
    const latest = new Map<number, Message>();
    for (const m of [...bobSaw.messages, ...bobSaw.updates]) latest.set(m.seq, m);
    for (const m of stored.body.messages as Message[]) {
      if (m.deleted) expect(bobSaw.deletes.map((d) => d.messageId)).toContain(m._id);
      else expect(latest.get(m.seq)).toEqual(m);
    }

    // Away again with nothing changed: the server replays nothing, and the app hears nothing.
    const heardBefore = toBob.length;
    const counts = () => [bobSaw.messages, bobSaw.updates, bobSaw.deletes].map((l) => l.length);
    const before = counts();
    const backAgain = await bobAway();
    await backAgain();
    await settle();
    const replayed = toBob
      .slice(heardBefore)
      .filter((f) => ["new-message", "message-updated", "message-deleted"].includes(f.event));
    expect(replayed).toEqual([]);
    expect(counts()).toEqual(before);

    // And a change made now arrives live, once.
    await mine.edit(new2._id, "new 2, edited");
    await waitFor("the live edit", () => bobSaw.updates.length === 4);
    await settle();
    expect(bobSaw.updates.at(-1)!.text).toBe("new 2, edited");
    expect(counts()).toEqual([6, 4, 1]);
  }, 30_000);

  test("a replay cut short is asked for again from where it began, and what had arrived of it is not repeated", async () => {
    const { mine, theirs } = await both();
    const bobSaw = recordChat(theirs);
    const old: Message[] = [];
    for (let i = 1; i <= 3; i++) old.push(await mine.send(`old ${i}`));
    await waitFor("Bob's app to have the old ones", () => bobSaw.messages.length === 3);
    const [old1, old2, old3] = old as [Message, Message, Message];

    const back = await bobAway();
    await mine.edit(old1._id, "old 1, edited");
    await mine.edit(old2._id, "old 2, edited");
    await mine.react(old3._id, "🎉");
    // The new message's latest version is above all three: its replay comes first (by seq), and
    // a client that resumed from it would never hear of the three.
    const fresh = await mine.send("new");
    await mine.edit(fresh._id, "new, edited");
    // The socket dies as the replay reaches old 2: Bob has had the new message and old 1's edit.
    const record = balancer.filter!;
    let cut = false;
    balancer.filter = (frame) => {
      const { event, data } = JSON.parse(frame);
      if (!cut && event === "message-updated" && data._id === old2._id) {
        cut = true;
        queueMicrotask(() => balancer.cut());
        return false;
      }
      return record(frame);
    };
    const replays = () => toBob.filter((f) => f.data?._id === old1._id).length;
    const old1Before = replays();
    try {
      await back();
      await waitFor("the cut", () => cut);
      await waitFor(
        "Bob's app to catch up",
        () => bobSaw.updates.length === 3 && bobSaw.messages.length === 4,
      );
    } finally {
      balancer.filter = record;
    }
    await settle();
    // The server did send old 1's edit twice (the second replay began where the first had).
    expect(replays() - old1Before).toBe(2);
    expect(bobSaw.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, "old 1"],
      [2, "old 2"],
      [3, "old 3"],
      [4, "new, edited"],
    ]);
    expect(bobSaw.updates.map((m) => [m.seq, m.text])).toEqual([
      [1, "old 1, edited"],
      [2, "old 2, edited"],
      [3, "old 3"],
    ]);
    expect(bobSaw.deletes).toEqual([]);
  }, 30_000);

  test("a change to a message the app has not had yet comes as that message, in seq order", async () => {
    const { mine, theirs } = await both();
    const bobSaw = recordChat(theirs);
    await mine.send("one");
    await waitFor("Bob's app to have it", () => bobSaw.messages.length === 1);
    // Bob's socket loses the new-message of these two: the edit, or the deletion, is the first
    // he hears of each.
    const lost = new Set(["two", "three"]);
    const record = balancer.filter!;
    balancer.filter = (frame) => {
      const { event, data } = JSON.parse(frame);
      return record(frame) && !(event === "new-message" && lost.has(data.text));
    };
    try {
      const two = await mine.send("two");
      const three = await mine.send("three");
      await mine.edit(two._id, "two, edited");
      await mine.delete(three._id);
      await waitFor("Bob's app to have all three", () => bobSaw.messages.length === 3);
    } finally {
      balancer.filter = record;
    }
    await settle();
    expect(bobSaw.messages.map((m) => [m.seq, m.text, m.deleted])).toEqual([
      [1, "one", false],
      [2, "two, edited", false],
      [3, "", true],
    ]);
    expect(bobSaw.updates).toEqual([]);
    expect(bobSaw.deletes).toEqual([]);
  });

  test("refusals reject with the server's code; a change waits for the socket, or times out", async () => {
    const chatId = await chatBetween(server.api, alice, bob);
    const mine = aliceClient.chat(chatId);
    const theirs = bobClient.chat(chatId);
    const message = await mine.send("mine alone");
    const gone = await mine.send("soon deleted");
    await mine.delete(gone._id);
    const code = (promise: Promise<unknown>) =>
      promise.then(
        () => "resolved",
        (error: unknown) => (error instanceof ClientError ? error.code : String(error)),
      );

    expect(await code(theirs.edit(message._id, "not yours"))).toBe("FORBIDDEN");
    expect(await code(theirs.delete(message._id))).toBe("FORBIDDEN");
    expect(await code(theirs.react(gone._id, "👍"))).toBe("MESSAGE_DELETED");
    expect(await code(mine.edit(gone._id, "back"))).toBe("MESSAGE_DELETED");
    expect(await code(mine.edit(message._id, "   "))).toBe("VALIDATION");
    expect(await code(mine.react(message._id, "two words"))).toBe("VALIDATION");
    expect(await code(mine.edit("0123456789abcdef01234567", "nobody's"))).toBe("NOT_FOUND");

    // While Bob's socket is down his reaction waits, and goes out on the next one.
    const back = await bobAway();
    const waiting = theirs.react(message._id, "👍");
    await Bun.sleep(300);
    await back();
    expect((await waiting).messageId).toBe(message._id);

    // A client whose socket never opens: TIMEOUT after changeTimeoutMs.
    balancer.backends = [];
    const offline = connect(bob, balancer.url, { changeTimeoutMs: 300 });
    extra.push(offline);
    const started = Date.now();
    expect(await code(offline.chat(chatId).react(message._id, "👎"))).toBe("TIMEOUT");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('client.on("chat") hears a group created or renamed', async () => {
    const heard: Chat[] = [];
    const stop = bobClient.on("chat", (chat) => heard.push(chat));
    const group = await createGroup(server.api, alice, [bob], "Reading group");
    await waitFor("the new group", () => heard.some((c) => c._id === group._id));
    const renamed = await server.api(`/api/chats/${group._id}`, {
      method: "PATCH",
      token: alice.token,
      body: { name: "Book club" },
    });
    expect(renamed.status).toBe(200);
    await waitFor("the new name", () => heard.some((c) => c.name === "Book club"));
    stop();
    expect(heard.every((c) => c._id === group._id && c.kind === "group")).toBe(true);
  });
});
