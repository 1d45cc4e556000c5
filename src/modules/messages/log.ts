import { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import type { MessageDoc, ReplyQuote } from "../../db/models/message.ts";
import { ConflictError } from "../../errors.ts";
import type { PopulatedMessage } from "./serialize.ts";

/** One message to append: validated and trimmed by the caller. */
export interface Draft {
  chatId: string;
  senderId: string;
  text: string;
  clientId?: string;
  replyTo?: ReplyQuote;
}

/** A message as the log writes it (its `updatedAt` is its `createdAt`). */
export type StoredMessage = Omit<MessageDoc, "updatedAt"> & { version: number };

/** Where a chat stands: its last `seq` and its newest `version`, as far as this process knows. */
interface Position {
  seq: number;
  version: number;
}

/** Stored now, or the sender's earlier message with the same `clientId` (nothing stored). */
export type Appended =
  | { created: true; message: StoredMessage }
  | { created: false; earlier: PopulatedMessage };

interface Waiting {
  draft: Draft;
  resolve(outcome: Appended): void;
  reject(error: unknown): void;
}

/** Sends that wait for their lane's write in flight to finish; then they go together. */
interface Lane {
  waiting: Waiting[];
  busy: boolean;
}

/** How often a batch retries when another instance took the same `seq` first. */
const MAX_SEQ_ATTEMPTS = 50;
/** At most this many messages in one insert. */
const MAX_BATCH = 256;
/** Independent writers; a chat always uses the same one, so its messages keep their order. */
const LANES = 4;
/** Chats whose position this process remembers; a stale guess only costs a retry. */
const REMEMBERED_CHATS = 10_000;

/**
 * Appends messages to chats with gap-free `seq`, by group commit. While a write is in flight, the
 * sends that arrive wait; then all of them, whatever their chat, go in one ordered `insertMany`
 * and one bulk update of their chats. Chats are spread over a few lanes, each with at most one
 * write in flight, so a chat's messages are written in the order they came.
 *
 * The unique (chat, seq) and (chat, version) indexes stay the arbiters across instances: `seq`
 * and `version` are guessed from what this process last wrote (else the chat's `lastSeq` and
 * `version`), and a duplicate key moves that chat's guesses on and tries again. After each batch
 * every instance is told how far this one wrote (`announce`, through the hub, once per batch), so
 * a chat that two instances write to (a chat whose members sit on both) is guessed right without
 * a read before each batch; such a chat is marked shared, and its documents go last in an insert,
 * where a clash stops nothing else. An ordered insert stops at the first failure, and
 * the failed chat's later messages are renumbered before they are retried, so a chat never gets a
 * hole. A resend (`clientId` already used by its sender) is caught by the unique
 * (sender, clientId) index rather than by a read before every send. Edits, deletions and
 * reactions take their versions elsewhere and report them here (`changed`), so the next message's
 * guess is past them.
 */
export class MessageLog {
  private readonly lanes: Lane[] = Array.from({ length: LANES }, () => ({
    waiting: [],
    busy: false,
  }));
  private readonly positions = new Map<string, Position>();
  /** Chats another instance writes to as well: their guesses are refreshed before each batch. */
  private readonly shared = new Set<string>();

  /** Tells the positions this log wrote apart from those other instances announce. */
  private readonly id = crypto.randomUUID();

  constructor(
    private readonly models: Models,
    /** Tells every instance how far this log wrote, once per batch (see `heard`). */
    private readonly announce: (message: () => string) => void = () => {},
  ) {}

  append(draft: Draft): Promise<Appended> {
    return new Promise((resolve, reject) => {
      const lane = this.lanes[laneOf(draft.chatId)]!;
      lane.waiting.push({ draft, resolve, reject });
      if (!lane.busy) void this.drain(lane);
    });
  }

  private async drain(lane: Lane): Promise<void> {
    lane.busy = true;
    while (lane.waiting.length > 0) {
      const batch = lane.waiting.splice(0, MAX_BATCH);
      try {
        await this.write(batch);
      } catch (error) {
        // Settled sends ignore this; the others fail, and their chats' guesses are not trusted.
        for (const item of batch) {
          this.positions.delete(item.draft.chatId);
          item.reject(error);
        }
      }
    }
    lane.busy = false;
  }

  private async write(batch: Waiting[]): Promise<void> {
    const pending = new Map<string, Waiting[]>();
    for (const item of batch) {
      const queue = pending.get(item.draft.chatId);
      if (queue) queue.push(item);
      else pending.set(item.draft.chatId, [item]);
    }
    await this.guess([...pending.keys()].filter((chatId) => !this.positions.has(chatId)));
    /** Taken `seq`s met so far in this batch, per chat. */
    const clashes = new Map<string, number>();
    let seqClashes = 0;
    while (pending.size > 0 && seqClashes < MAX_SEQ_ATTEMPTS) {
      const createdAt = new Date();
      const docs: StoredMessage[] = [];
      const owners: Waiting[] = [];
      // Shared chats last: an ordered insert stops at a clash, and theirs are the likely ones.
      const order = [...pending].sort(
        ([x], [y]) => Number(this.shared.has(x)) - Number(this.shared.has(y)),
      );
      for (const [chatId, items] of order) {
        const chat = new Types.ObjectId(chatId);
        const last = this.positions.get(chatId) ?? { seq: 0, version: 0 };
        items.forEach((item, i) => {
          const { senderId, text, clientId, replyTo } = item.draft;
          docs.push({
            _id: new Types.ObjectId(),
            chat,
            sender: new Types.ObjectId(senderId),
            text,
            seq: last.seq + 1 + i,
            version: last.version + 1 + i,
            ...(clientId ? { clientId } : {}),
            ...(replyTo ? { replyTo } : {}),
            createdAt,
          });
          owners.push(item);
        });
      }
      let stored = docs.length;
      let index: string | undefined;
      try {
        // The driver directly: the documents are already in their stored shape.
        await this.models.Message.collection.insertMany(
          docs.map((doc) => ({ ...doc, updatedAt: createdAt, __v: 0 })),
          { ordered: true },
        );
      } catch (error) {
        const failed = firstFailure(error);
        if (!failed) throw error;
        stored = failed.index;
        index = failed.indexName;
      }
      await this.stored(docs.slice(0, stored), owners.slice(0, stored), pending);
      if (stored === docs.length) return;
      const owner = owners[stored]!;
      const chatClashes = clashes.get(owner.draft.chatId) ?? 0;
      if (await this.clash(owner, docs[stored]!, index, pending, chatClashes)) {
        seqClashes++;
        clashes.set(owner.draft.chatId, chatClashes + 1);
      }
    }
    const busy = new ConflictError("The chat is too busy right now; try again", "CONFLICT");
    for (const [chatId, items] of pending) {
      this.positions.delete(chatId);
      for (const item of items) item.reject(busy);
    }
  }

  /**
   * Moves each chat's summary to its newest stored message and its version up, and each sender's
   * read mark to their own message (what you wrote, you have read), then acknowledges them.
   */
  private async stored(docs: StoredMessage[], owners: Waiting[], pending: Map<string, Waiting[]>) {
    if (docs.length === 0) return;
    const newest = new Map<string, StoredMessage>();
    const marks = new Map<string, Record<string, number>>();
    for (const doc of docs) {
      const chatId = String(doc.chat);
      newest.set(chatId, doc);
      const chatMarks = marks.get(chatId) ?? {};
      chatMarks[`lastRead.${doc.sender}`] = doc.seq;
      marks.set(chatId, chatMarks);
    }
    // The driver directly, as for the insert: every value is already in its stored type, and
    // casting the read marks' map paths was a measurable part of a send's CPU.
    await this.models.Chat.collection.bulkWrite(
      [...newest].flatMap(([chatId, doc]) => {
        const { filter, update } = summaryUpdate(doc);
        const ahead = { $max: { version: doc.version, ...marks.get(chatId) } };
        // A chat only this process writes to is never further on than its newest message, so one
        // update does both; another writer may be ahead, and then the summary is left alone but
        // the version and the marks still move.
        return this.shared.has(chatId)
          ? [
              { updateOne: { filter, update } },
              { updateOne: { filter: { _id: doc.chat }, update: ahead } },
            ]
          : [{ updateOne: { filter, update: { ...update, ...ahead } } }];
      }),
      { ordered: false },
    );
    for (const [chatId, doc] of newest) this.remember(chatId, doc);
    // A chat's stored messages are the first of its pending ones.
    for (const owner of owners) {
      const items = pending.get(owner.draft.chatId)!;
      items.shift();
      if (items.length === 0) pending.delete(owner.draft.chatId);
    }
    docs.forEach((doc, i) => {
      owners[i]!.resolve({ created: true, message: doc });
    });
    // Said after the sends resume, so it leaves with their fan-out (one PUBLISH with Redis).
    this.announce(() => {
      const chats = Object.fromEntries(
        [...newest].map(([id, doc]) => [id, [doc.seq, doc.version]]),
      );
      return JSON.stringify({ from: this.id, chats });
    });
  }

  /**
   * The first message an insert refused: a `seq` or a `version` another writer took first (true),
   * or a resend. A taken slot moves the guess past it, to at least the chat's own record; both are
   * at most the real newest, so the next try is either free and right after it, or taken again. A
   * taken version is simply skipped (versions only need to grow), but `seq` never is: when the
   * refusal does not say which index refused, the messages themselves are asked. After a few
   * clashes in a row they are asked too (the chat's summary may be far behind). One resend often
   * comes with others (a client replaying its outbox after a reconnect), so the whole batch is
   * checked for them at once.
   */
  private async clash(
    item: Waiting,
    refused: StoredMessage,
    indexName: string | undefined,
    pending: Map<string, Waiting[]>,
    /** Taken slots this chat met so far in this batch. */
    clashes: number,
  ): Promise<boolean> {
    const { chatId, senderId, clientId } = item.draft;
    const seqTaken = indexName?.includes("seq") === true;
    const versionTaken = indexName?.includes("version") === true;
    const earlier =
      clientId && !seqTaken && !versionTaken ? await this.byClientId(senderId, clientId) : null;
    if (!earlier) {
      const chat = new Types.ObjectId(chatId);
      const known =
        clashes >= 3 || !(seqTaken || versionTaken)
          ? await this.storedPosition(chat)
          : await this.chatPosition(chat);
      this.remember(chatId, {
        seq: Math.max(seqTaken ? refused.seq : refused.seq - 1, known.seq),
        version: Math.max(refused.version, known.version),
      });
      this.markShared(chatId);
      return true;
    }
    const resent = new Map<Waiting, PopulatedMessage>([[item, earlier]]);
    const others = [...pending.values()].flat().filter((w) => w !== item && w.draft.clientId);
    if (others.length > 0) {
      const found = await this.models.Message.find({
        $or: others.map((w) => ({ sender: w.draft.senderId, clientId: w.draft.clientId })),
      }).lean();
      // Keyed before populating: a deleted sender populates as null.
      const keys = found.map((m) => `${m.sender}:${m.clientId}`);
      const populated = (await this.models.Message.populate(found, {
        path: "sender",
        select: "name avatar",
      })) as unknown as PopulatedMessage[];
      const byKey = new Map(populated.map((m, i) => [keys[i], m]));
      for (const w of others) {
        const match = byKey.get(`${w.draft.senderId}:${w.draft.clientId}`);
        if (match) resent.set(w, match);
      }
    }
    // Their earlier messages are the answers; the rest of each chat moves up into their places.
    for (const [w, message] of resent) {
      w.resolve({ created: false, earlier: message });
      const items = pending.get(w.draft.chatId)!;
      items.splice(items.indexOf(w), 1);
      if (items.length === 0) pending.delete(w.draft.chatId);
    }
    return false;
  }

  /**
   * Moves a chat's summary up to a message stored earlier, if it is not there yet: a process that
   * died between storing a message and updating its chat left `lastSeq`, `lastMessage` and the
   * unread counts behind, and the message's resend is the first to know.
   */
  async catchUp(message: Pick<StoredMessage, "_id" | "chat" | "seq" | "createdAt">): Promise<void> {
    const { filter, update } = summaryUpdate(message);
    await this.models.Chat.updateOne(filter, update);
  }

  async byClientId(senderId: string, clientId: string): Promise<PopulatedMessage | null> {
    return (await this.models.Message.findOne({ sender: senderId, clientId })
      .populate("sender", "name avatar")
      .lean()) as unknown as PopulatedMessage | null;
  }

  /**
   * Another instance wrote these chats up to these positions: the next guess here goes past
   * them, with no read, and the chats count as shared. What is heard was stored before it was
   * said, so it never runs ahead; what is not heard (Redis away, or a write racing the news) is
   * met as a clash, as before.
   */
  heard(message: string): void {
    let parsed: { from?: unknown; chats?: unknown };
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (parsed.from === this.id || typeof parsed.chats !== "object" || parsed.chats === null) {
      return;
    }
    for (const [chatId, position] of Object.entries(parsed.chats)) {
      if (!Array.isArray(position)) continue;
      const [seq, version] = position;
      if (typeof seq !== "number" || typeof version !== "number") continue;
      // Only chats this process writes to need a guess; the others are read when first written.
      if (!this.positions.has(chatId)) continue;
      this.remember(chatId, { seq, version });
      this.markShared(chatId);
    }
  }

  /** First guesses, from the chats' own record (which may lag behind, never run ahead). */
  private async guess(chatIds: string[]): Promise<void> {
    if (chatIds.length === 0) return;
    const chats = await this.models.Chat.find(
      { _id: { $in: chatIds } },
      { lastSeq: 1, version: 1 },
    ).lean();
    for (const chatId of chatIds) this.remember(chatId, this.positions.get(chatId) ?? START);
    for (const chat of chats) this.remember(String(chat._id), positionOf(chat));
  }

  /**
   * An edit, a deletion or a reaction took `version` in the chat: the next message's guess goes
   * past it (another instance's changes are met as clashes instead).
   */
  changed(chatId: string, version: number): void {
    const known = this.positions.get(chatId);
    if (known && known.version < version) known.version = version;
  }

  /** The newest version this process knows of in the chat (0 when it knows nothing). */
  knownVersion(chatId: string): number {
    return this.positions.get(chatId)?.version ?? 0;
  }

  private async chatPosition(chat: Types.ObjectId): Promise<Position> {
    const found = await this.models.Chat.findById(chat, { lastSeq: 1, version: 1 }).lean();
    return found ? positionOf(found) : START;
  }

  /** The authority: the highest `seq` and `version` actually stored. */
  private async storedPosition(chat: Types.ObjectId): Promise<Position> {
    const [bySeq, byVersion] = await Promise.all([
      this.models.Message.findOne({ chat }, { seq: 1 }).sort({ seq: -1 }).lean(),
      newestVersion(this.models, chat),
    ]);
    return { seq: bySeq?.seq ?? 0, version: byVersion };
  }

  private markShared(chatId: string): void {
    this.shared.delete(chatId);
    this.shared.add(chatId);
    if (this.shared.size > REMEMBERED_CHATS) {
      const oldest = this.shared.values().next().value;
      if (oldest !== undefined) this.shared.delete(oldest);
    }
  }

  /** Keeps the further of what is known and `position`, as the most recently used chat. */
  private remember(chatId: string, position: Position): void {
    const known = this.positions.get(chatId);
    this.positions.delete(chatId);
    this.positions.set(chatId, {
      seq: Math.max(known?.seq ?? 0, position.seq),
      version: Math.max(known?.version ?? 0, position.version),
    });
    if (this.positions.size > REMEMBERED_CHATS) {
      const oldest = this.positions.keys().next().value;
      if (oldest !== undefined) this.positions.delete(oldest);
    }
  }
}

const START: Position = { seq: 0, version: 0 };

function positionOf(chat: { lastSeq?: number; version?: number }): Position {
  return { seq: chat.lastSeq ?? 0, version: chat.version ?? 0 };
}

/** The highest version stored among a chat's messages: the authority for the next one. */
export async function newestVersion(models: Models, chat: Types.ObjectId): Promise<number> {
  const newest = await models.Message.findOne({ chat, version: { $gt: 0 } }, { version: 1 })
    .sort({ version: -1 })
    .lean();
  return newest?.version ?? 0;
}

/** A chat's summary moves to `message` unless it is already there or further on. */
function summaryUpdate(message: Pick<StoredMessage, "_id" | "chat" | "seq" | "createdAt">) {
  return {
    filter: { _id: message.chat, lastSeq: { $lt: message.seq } },
    update: {
      $set: {
        lastSeq: message.seq,
        lastMessage: message._id,
        lastMessageAt: message.createdAt,
        updatedAt: message.createdAt,
      },
    },
  };
}

function laneOf(chatId: string): number {
  // The tail of an ObjectId is a counter: spread enough for a few lanes.
  return Number.parseInt(chatId.slice(-2), 16) % LANES || 0;
}

/**
 * For a duplicate-key failure of an ordered insert: how many documents went in before it, and the
 * index that refused it when the message names it ("... index: chat_1_seq_1 dup key ...", as
 * mongod and the embedded store both write it; bulk errors carry no keyPattern). Undefined for any
 * other failure, which fails the whole batch.
 */
function firstFailure(error: unknown): { index: number; indexName?: string } | undefined {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  const first = (Array.isArray(writeErrors) ? writeErrors[0] : writeErrors) as
    | { index?: number; code?: number; errmsg?: string }
    | undefined;
  if (first?.code !== 11000 || typeof first.index !== "number") return undefined;
  const indexName = / index: (\S+) /.exec(first.errmsg ?? "")?.[1];
  return { index: first.index, indexName };
}
