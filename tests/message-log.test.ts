import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Types } from "mongoose";
import { connect } from "../src/db/index.ts";
import { pairKeyOf } from "../src/db/models/chat.ts";
import { createModels, type Models } from "../src/db/models/index.ts";
import { type Appended, MessageLog } from "../src/modules/messages/log.ts";
import { type TestMongo, testMongo } from "./support/mongo.ts";

/**
 * The message log groups concurrent sends per chat into one insert. Two logs on one database stand
 * for two instances: each guesses `seq` from what it wrote last, and the unique index settles it.
 */
let mongo: TestMongo;
let models: Models;
let close: () => Promise<unknown>;

beforeAll(async () => {
  mongo = await testMongo();
  const connection = await connect(mongo.uri, mongo.dbName);
  close = () => connection.close();
  models = createModels(connection);
  await Promise.all([models.Chat.init(), models.Message.init()]);
});

afterAll(async () => {
  await close();
  await mongo.stop();
});

async function newChat(): Promise<{ chatId: string; a: string; b: string }> {
  const a = new Types.ObjectId().toString();
  const b = new Types.ObjectId().toString();
  const chat = await models.Chat.create({ pairKey: pairKeyOf(a, b), participants: [a, b] });
  return { chatId: String(chat._id), a, b };
}

async function storedSeqs(chatId: string): Promise<number[]> {
  const docs = await models.Message.find({ chat: chatId }, { seq: 1 }).sort({ seq: 1 }).lean();
  return docs.map((d) => d.seq);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("the message log", () => {
  test("concurrent sends through two instances → seq 1..n, no gap, no repeat", async () => {
    const { chatId, a, b } = await newChat();
    const first = new MessageLog(models);
    const second = new MessageLog(models);
    const sends: Promise<Appended>[] = [];
    for (let i = 0; i < 30; i++) {
      sends.push(first.append({ chatId, senderId: a, text: `a${i}` }));
      sends.push(second.append({ chatId, senderId: b, text: `b${i}`, clientId: `b${i}` }));
    }
    const outcomes = await Promise.all(sends);
    expect(outcomes.every((o) => o.created)).toBe(true);
    const acknowledged = outcomes.map((o) => (o.created ? o.message.seq : 0)).sort((x, y) => x - y);
    expect(acknowledged).toEqual(range(60));
    expect(await storedSeqs(chatId)).toEqual(range(60));
    const chat = await models.Chat.findById(chatId).lean();
    expect(chat?.lastSeq).toBe(60);
  });

  test("an instance whose guess went stale (the other wrote meanwhile) still leaves no gap", async () => {
    const { chatId, a, b } = await newChat();
    const first = new MessageLog(models);
    const second = new MessageLog(models);
    await first.append({ chatId, senderId: a, text: "1" });
    await second.append({ chatId, senderId: b, text: "2" });
    await second.append({ chatId, senderId: b, text: "3" });
    const late = await first.append({ chatId, senderId: a, text: "4" });
    expect(late.created && late.message.seq).toBe(4);
    expect(await storedSeqs(chatId)).toEqual([1, 2, 3, 4]);
  });

  test("a chat whose lastSeq lags behind its messages (a writer died in between) → next free seq", async () => {
    const { chatId, a } = await newChat();
    const chat = new Types.ObjectId(chatId);
    const sender = new Types.ObjectId(a);
    await models.Message.insertMany(
      range(5).map((seq) => ({ chat, sender, text: `old ${seq}`, seq })),
    );
    const outcome = await new MessageLog(models).append({ chatId, senderId: a, text: "next" });
    expect(outcome.created && outcome.message.seq).toBe(6);
    expect(await storedSeqs(chatId)).toEqual(range(6));
  });

  test("a client replaying its outbox: every resend answered with its earlier message", async () => {
    const { chatId, a } = await newChat();
    const log = new MessageLog(models);
    const first = await Promise.all(
      range(10).map((i) => log.append({ chatId, senderId: a, text: `m${i}`, clientId: `o${i}` })),
    );
    const replay = await Promise.all(
      range(12).map((i) => log.append({ chatId, senderId: a, text: `m${i}`, clientId: `o${i}` })),
    );
    expect(replay.map((o) => o.created)).toEqual([...range(10).map(() => false), true, true]);
    replay.slice(0, 10).forEach((o, i) => {
      const original = first[i];
      expect(o.created === false && String(o.earlier._id)).toBe(
        original?.created === true && String(original.message._id),
      );
    });
    expect(await storedSeqs(chatId)).toEqual(range(12));
  });

  test("the same clientId twice in one batch → one message; the other gets it back", async () => {
    const { chatId, a } = await newChat();
    const log = new MessageLog(models);
    const outcomes = await Promise.all([
      log.append({ chatId, senderId: a, text: "x", clientId: "same" }),
      log.append({ chatId, senderId: a, text: "x", clientId: "same" }),
      log.append({ chatId, senderId: a, text: "y", clientId: "other" }),
    ]);
    expect(outcomes.map((o) => o.created)).toEqual([true, false, true]);
    const [stored, resent] = outcomes;
    expect(resent?.created === false && String(resent.earlier._id)).toBe(
      stored?.created === true && String(stored.message._id),
    );
    expect(await storedSeqs(chatId)).toEqual([1, 2]);
  });
});
