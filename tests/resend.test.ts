import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MongoClient, ObjectId } from "mongodb";
import type { TestApp } from "./support/app.ts";
import { canScaleOut, type TwoInstances, twoInstances } from "./support/cluster.ts";
import { chatBetween, registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * An instance that dies after storing a message but before updating its chat and fanning it out
 * leaves exactly this behind: the message in the database with its `seq` and `clientId`, the
 * chat's summary one behind, and nobody told. The test writes that state with the driver, as the
 * dead instance's insert would have, then the sender resends through another instance, as a
 * client whose acknowledgement never came does.
 */
if (!canScaleOut) console.warn("resend tests skipped: no Redis on 6379 and no redis-server");

describe.skipIf(!canScaleOut)("a resend after its instance died between store and fan-out", () => {
  let cluster: TwoInstances;
  let driver: MongoClient;
  let a: TestApp;
  let b: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  let chatId: string;
  let bobOnA: TestSocket;
  let aliceOnB: TestSocket;

  beforeAll(async () => {
    cluster = await twoInstances({ JWT_SECRET: "resend-test-secret-0123456789abcdefghij" });
    ({ a, b } = cluster);
    driver = new MongoClient(cluster.mongo.uri);
    [alice, bob] = await Promise.all([registerUser(a.api, "Alice"), registerUser(a.api, "Bob")]);
    chatId = await chatBetween(a.api, alice, bob);
    bobOnA = await a.socket(bob.token);
    aliceOnB = await b.socket(alice.token);
    await Promise.all([bobOnA.next("online-users"), aliceOnB.next("online-users")]);
  });

  afterAll(async () => {
    await driver?.close();
    await cluster?.stop();
  });

  /** What the dead instance's insert left: the next message stored, its chat untouched. */
  async function storedByTheDeadInstance(clientId: string, text: string) {
    const db = driver.db(cluster.mongo.dbName);
    const chat = await db.collection("chats").findOne({ _id: new ObjectId(chatId) });
    const seq = (chat?.lastSeq as number) + 1;
    const now = new Date();
    const _id = new ObjectId();
    await db.collection("messages").insertOne({
      _id,
      chat: new ObjectId(chatId),
      sender: new ObjectId(alice.id),
      text,
      seq,
      clientId,
      createdAt: now,
      updatedAt: now,
      __v: 0,
    });
    return { _id: String(_id), seq };
  }

  async function bobsChat() {
    const res = await a.api("/api/chats", { token: bob.token });
    return res.body.chats.find((c: { _id: string }) => c._id === chatId);
  }

  test("over the socket: the other user hears it at once, and the chat's summary catches up", async () => {
    const first = await a.api(`/api/messages/chat/${chatId}`, {
      token: alice.token,
      body: { text: "before the crash", clientId: "before" },
    });
    expect(first.status).toBe(201);
    await bobOnA.next("new-message", (m) => m.clientId === "before");
    const lost = await storedByTheDeadInstance("lost-1", "stored, then the instance died");
    expect((await bobsChat()).lastSeq).toBe(lost.seq - 1);

    aliceOnB.send("send-message", {
      chatId,
      text: "stored, then the instance died",
      clientId: "lost-1",
    });
    const ack = await aliceOnB.next("message-sent", (d) => d.clientId === "lost-1");
    expect(ack.data.message._id).toBe(lost._id);
    expect(ack.data.message.seq).toBe(lost.seq);
    const heard = await bobOnA.next("new-message", (m) => m.clientId === "lost-1");
    expect(heard.data.seq).toBe(lost.seq);

    const chat = await bobsChat();
    expect(chat.lastSeq).toBe(lost.seq);
    expect(chat.lastMessage._id).toBe(lost._id);
    expect(chat.unreadCount).toBe(lost.seq);
    // Nothing was stored twice, and the next message follows without a gap.
    const next = await b.api(`/api/messages/chat/${chatId}`, {
      token: bob.token,
      body: { text: "after" },
    });
    expect(next.body.message.seq).toBe(lost.seq + 1);
    const history = await a.api(`/api/messages/chat/${chatId}`, { token: bob.token });
    expect(history.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3]);
  });

  test("over REST: 200 with the stored message, fanned out again, summary caught up", async () => {
    const lost = await storedByTheDeadInstance("lost-2", "also lost in the crash");
    const resent = await b.api(`/api/messages/chat/${chatId}`, {
      token: alice.token,
      body: { text: "also lost in the crash", clientId: "lost-2" },
    });
    expect(resent.status).toBe(200);
    expect(resent.body.message._id).toBe(lost._id);
    expect((await bobOnA.next("new-message", (m) => m.clientId === "lost-2")).data.seq).toBe(
      lost.seq,
    );
    const chat = await bobsChat();
    expect(chat.lastSeq).toBe(lost.seq);
    expect(chat.lastMessage._id).toBe(lost._id);
  });

  test("a resend never moves the summary back", async () => {
    // "before" was the first message; the chat has moved on since.
    const resent = await b.api(`/api/messages/chat/${chatId}`, {
      token: alice.token,
      body: { text: "before the crash", clientId: "before" },
    });
    expect(resent.status).toBe(200);
    expect(resent.body.message.seq).toBe(1);
    const chat = await bobsChat();
    expect(chat.lastSeq).toBeGreaterThan(1);
    expect(chat.lastMessage.seq).toBe(chat.lastSeq);
  });
});
