import { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import { ConflictError, ValidationError } from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import type { ChatMembership, ChatService } from "../chats/service.ts";
import { type MessageJson, messageJson, type PopulatedMessage } from "./serialize.ts";

/** Who sends: the authenticated user, as much of them as a message shows. */
export interface Sender {
  id: string;
  name: string;
  avatar: string;
}

export interface SendInput {
  chatId: string;
  sender: Sender;
  text: string;
  clientId?: string;
  /** Already checked by the caller (the socket caches it); looked up when absent. */
  membership?: ChatMembership;
}

export interface SendResult {
  message: MessageJson;
  /** False when this `clientId` was already used: the earlier message is returned, nothing is stored. */
  created: boolean;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit: number;
}

export const MAX_TEXT = 4000;

/** How often a send retries when another instance took the same `seq` first. */
const MAX_SEQ_ATTEMPTS = 50;

function duplicateKeyOf(error: unknown): Record<string, unknown> | undefined {
  const e = error as { code?: number; keyPattern?: Record<string, unknown> };
  return e?.code === 11000 ? (e.keyPattern ?? {}) : undefined;
}

/**
 * Sending and reading messages. REST and WebSocket sends both come here. A message is stored
 * before anyone hears of it; `seq` is the next free number in its chat, claimed by the unique
 * (chat, seq) index, so it has no gaps even with several instances writing at once.
 */
export class MessageService {
  /** Sends to one chat queue up in this process, so they rarely race each other for a `seq`. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly models: Models,
    private readonly hub: Hub,
    private readonly chats: ChatService,
  ) {}

  async send(input: SendInput): Promise<SendResult> {
    const text = input.text.trim();
    if (text.length < 1 || text.length > MAX_TEXT) {
      throw new ValidationError("The message is invalid", [
        { path: "text", message: `must be 1 to ${MAX_TEXT} characters once trimmed` },
      ]);
    }
    const membership =
      input.membership ?? (await this.chats.membership(input.chatId, input.sender.id));
    if (input.clientId) {
      const earlier = await this.findByClientId(input.sender.id, input.clientId);
      if (earlier) return this.resent(earlier, input.chatId);
    }
    const outcome = await this.inChatQueue(input.chatId, () => this.store({ ...input, text }));
    if (!outcome.created) return outcome;
    const others = membership.participantIds.filter((id) => id !== input.sender.id);
    this.hub.toUsers(membership.participantIds, "new-message", outcome.message);
    // A sent message ends its sender's typing.
    this.hub.toChat(input.chatId, others, "typing", {
      userId: input.sender.id,
      chatId: input.chatId,
      isTyping: false,
    });
    return outcome;
  }

  async history(
    userId: string,
    chatId: string,
    query: HistoryQuery,
  ): Promise<{ messages: MessageJson[]; hasMore: boolean }> {
    await this.chats.membership(chatId, userId);
    const seq: Record<string, number> = {};
    if (query.after !== undefined) seq.$gt = query.after;
    if (query.before !== undefined) seq.$lt = query.before;
    const filter = {
      chat: new Types.ObjectId(chatId),
      ...(Object.keys(seq).length ? { seq } : {}),
    };
    // `after` alone reads forward from a point (catching up); otherwise read back from the newest.
    const forward = query.after !== undefined && query.before === undefined;
    const page = (await this.models.Message.find(filter)
      .sort({ seq: forward ? 1 : -1 })
      .limit(query.limit + 1)
      .populate("sender", "name avatar")
      .lean()) as unknown as PopulatedMessage[];
    const hasMore = page.length > query.limit;
    const messages = page.slice(0, query.limit);
    if (!forward) messages.reverse();
    return { messages: messages.map(messageJson), hasMore };
  }

  private async store(input: SendInput): Promise<SendResult> {
    const chat = new Types.ObjectId(input.chatId);
    for (let attempt = 0; attempt < MAX_SEQ_ATTEMPTS; attempt++) {
      const last = await this.models.Message.findOne({ chat }, { seq: 1 }).sort({ seq: -1 }).lean();
      const seq = (last?.seq ?? 0) + 1;
      try {
        const doc = await this.models.Message.create({
          chat,
          sender: input.sender.id,
          text: input.text,
          seq,
          ...(input.clientId ? { clientId: input.clientId } : {}),
        });
        await this.models.Chat.updateOne(
          { _id: chat, lastSeq: { $lt: seq } },
          { $set: { lastSeq: seq, lastMessage: doc._id, lastMessageAt: doc.createdAt } },
        );
        const message = messageJson({
          _id: doc._id,
          chat,
          sender: {
            _id: new Types.ObjectId(input.sender.id),
            name: input.sender.name,
            avatar: input.sender.avatar,
          },
          text: doc.text,
          seq,
          clientId: doc.clientId,
          createdAt: doc.createdAt,
        });
        return { message, created: true };
      } catch (error) {
        const key = duplicateKeyOf(error);
        if (!key) throw error;
        if ("clientId" in key && input.clientId) {
          // The same resend raced us on another socket or instance: theirs is the message.
          const earlier = await this.findByClientId(input.sender.id, input.clientId);
          if (earlier) return this.resent(earlier, input.chatId);
        }
        if (!("seq" in key)) throw error;
        // Another writer took this seq; read the new last one and try the next.
      }
    }
    throw new ConflictError("The chat is too busy right now; try again", "CONFLICT");
  }

  private async findByClientId(
    senderId: string,
    clientId: string,
  ): Promise<PopulatedMessage | null> {
    return (await this.models.Message.findOne({ sender: senderId, clientId })
      .populate("sender", "name avatar")
      .lean()) as unknown as PopulatedMessage | null;
  }

  private resent(earlier: PopulatedMessage, chatId: string): SendResult {
    if (String(earlier.chat) !== chatId) {
      throw new ConflictError(
        "This clientId was already used for another chat",
        "CLIENT_ID_REUSED",
      );
    }
    return { message: messageJson(earlier), created: false };
  }

  private inChatQueue<T>(chatId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(chatId) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(chatId, tail);
    void tail.then(() => {
      if (this.queues.get(chatId) === tail) this.queues.delete(chatId);
    });
    return run;
  }
}
