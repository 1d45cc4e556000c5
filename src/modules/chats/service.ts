import { Types } from "mongoose";
import type { ChatDoc } from "../../db/models/chat.ts";
import { pairKeyOf } from "../../db/models/chat.ts";
import type { Models } from "../../db/models/index.ts";
import { BadRequestError, NotFoundError } from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import type { Presence } from "../../realtime/presence.ts";
import { type MessageJson, messageJson, type PopulatedMessage } from "../messages/serialize.ts";
import type { PublicUser } from "../users/model.ts";
import { type StoredUser, toUserJson } from "../users/service.ts";

export interface ChatJson {
  _id: string;
  participants: PublicUser[];
  lastMessage: MessageJson | null;
  lastMessageAt: string | null;
  lastSeq: number;
  unreadCount: number;
  createdAt: string;
  updatedAt: string;
}

/** What the realtime side needs to know about a chat: who is in it. */
export interface ChatMembership {
  chatId: string;
  participantIds: string[];
}

const notFound = () => new NotFoundError("Chat not found");

export class ChatService {
  constructor(
    private readonly models: Models,
    private readonly hub: Hub,
    private readonly presence: Presence,
  ) {}

  /** The chat's participants, if `userId` is one of them; otherwise NOT_FOUND (existence is not leaked). */
  async membership(chatId: string, userId: string): Promise<ChatMembership> {
    if (!Types.ObjectId.isValid(chatId)) throw notFound();
    const chat = await this.models.Chat.findOne(
      { _id: chatId, participants: userId },
      { participants: 1 },
    ).lean();
    if (!chat) throw notFound();
    return { chatId, participantIds: chat.participants.map(String) };
  }

  /** Everyone who shares a chat with `userId`: the audience of their presence. */
  async contactsOf(userId: string): Promise<string[]> {
    const ids = await this.models.Chat.distinct("participants", { participants: userId });
    return ids.map(String).filter((id) => id !== userId);
  }

  async listFor(userId: string): Promise<ChatJson[]> {
    const chats = await this.models.Chat.find({ participants: userId })
      .sort({ lastMessageAt: -1, createdAt: -1 })
      .populate("participants")
      .populate({ path: "lastMessage", populate: { path: "sender", select: "name avatar" } })
      .lean();
    return chats.map((chat) => this.toJson(chat as unknown as PopulatedChat, userId));
  }

  /** One chat per pair of users, even when both ask at once; `created` tells which call made it. */
  async openWith(userId: string, otherId: string): Promise<{ chat: ChatJson; created: boolean }> {
    if (userId === otherId) throw new BadRequestError("You cannot open a chat with yourself");
    if (!Types.ObjectId.isValid(otherId) || !(await this.models.User.exists({ _id: otherId }))) {
      throw new NotFoundError("User not found");
    }
    const pairKey = pairKeyOf(userId, otherId);
    let created = false;
    const existing = await this.models.Chat.findOne({ pairKey }, { _id: 1 }).lean();
    if (!existing) {
      try {
        await this.models.Chat.create({ pairKey, participants: [userId, otherId] });
        created = true;
      } catch (error) {
        // The other side won the race: their chat is ours too.
        if ((error as { code?: number }).code !== 11000) throw error;
      }
    }
    // Presence is a courtesy here: the chat exists whether or not the announcement goes out.
    if (created) await this.introduce(userId, otherId).catch(() => undefined);
    const chat = await this.models.Chat.findOne({ pairKey })
      .populate("participants")
      .populate({ path: "lastMessage", populate: { path: "sender", select: "name avatar" } })
      .lean();
    if (!chat) throw notFound();
    return { chat: this.toJson(chat as unknown as PopulatedChat, userId), created };
  }

  /**
   * Two users who now share a chat are each other's presence audience: whoever of them is online
   * is announced to the other right away, as a reconnect would have shown.
   */
  private async introduce(a: string, b: string): Promise<void> {
    const online = new Set(await this.presence.online([a, b]));
    if (online.has(a)) this.hub.toUser(b, "user-online", { userId: a });
    if (online.has(b)) this.hub.toUser(a, "user-online", { userId: b });
  }

  /** Moves the caller's read mark forward (never back, never past the last message). */
  async markRead(userId: string, chatId: string, seq: number): Promise<void> {
    if (!Types.ObjectId.isValid(chatId)) throw notFound();
    const chat = await this.models.Chat.findOne(
      { _id: chatId, participants: userId },
      { participants: 1, lastSeq: 1 },
    ).lean();
    if (!chat) throw notFound();
    const mark = Math.min(seq, chat.lastSeq);
    const result = await this.models.Chat.updateOne(
      { _id: chatId, participants: userId },
      { $max: { [`lastRead.${userId}`]: mark } },
      // Without this, the updatedAt bump would make every mark look like a change.
      { timestamps: false },
    );
    if (result.modifiedCount === 0) return;
    const others = chat.participants.map(String).filter((id) => id !== userId);
    this.hub.toUsers(others, "chat-read", { chatId, userId, seq: mark });
  }

  private toJson(chat: PopulatedChat, userId: string): ChatJson {
    const lastRead = readMark(chat.lastRead, userId);
    return {
      _id: String(chat._id),
      participants: chat.participants.map(toUserJson),
      lastMessage: chat.lastMessage ? messageJson(chat.lastMessage) : null,
      lastMessageAt: chat.lastMessageAt ? chat.lastMessageAt.toISOString() : null,
      lastSeq: chat.lastSeq,
      unreadCount: Math.max(0, chat.lastSeq - lastRead),
      createdAt: chat.createdAt.toISOString(),
      updatedAt: chat.updatedAt.toISOString(),
    };
  }
}

type PopulatedChat = Omit<ChatDoc, "participants" | "lastMessage" | "lastRead"> & {
  participants: StoredUser[];
  lastMessage: PopulatedMessage | null;
  lastRead?: Record<string, number> | Map<string, number>;
};

/** `lean()` gives the read marks as a plain object; a hydrated document gives a Map. */
function readMark(lastRead: PopulatedChat["lastRead"], userId: string): number {
  if (!lastRead) return 0;
  if (lastRead instanceof Map) return lastRead.get(userId) ?? 0;
  return lastRead[userId] ?? 0;
}
