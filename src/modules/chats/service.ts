import { Types } from "mongoose";
import type { ChatDoc, ChatKind } from "../../db/models/chat.ts";
import { pairKeyOf, sessionChatKey } from "../../db/models/chat.ts";
import type { Models } from "../../db/models/index.ts";
import { BadRequestError, ConflictError, NotFoundError } from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import type { Presence } from "../../realtime/presence.ts";
import { type MessageJson, messageJson, type PopulatedMessage } from "../messages/serialize.ts";
import type { PublicUser } from "../users/model.ts";
import { type StoredUser, toUserJson } from "../users/service.ts";

export interface ChatJson {
  _id: string;
  kind: ChatKind;
  sessionId: string | null;
  participants: PublicUser[];
  lastMessage: MessageJson | null;
  lastMessageAt: string | null;
  lastSeq: number;
  unreadCount: number;
  createdAt: string;
  updatedAt: string;
}

/** What the realtime side needs to know about a chat: who is in it, and whether it is open. */
export interface ChatMembership {
  chatId: string;
  participantIds: string[];
  /** No new messages or typing: its session is over. */
  frozen: boolean;
}

/** Who is in a chat whose members follow something else (a session's seat), and since when. */
export interface ChatMembers {
  memberIds: string[];
  frozen: boolean;
  /** The owner's count of changes: a change lands only over an older one. */
  version: number;
}

const notFound = () => new NotFoundError("Chat not found");

export const chatFrozen = () =>
  new ConflictError("This chat is closed to new messages: its session is over", "CHAT_FROZEN");

/** What `GET /api/chats` lists: every kind but session chats, unless asked for those. */
export type ChatListKind = "direct" | "session";

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
      { participants: 1, frozen: 1 },
    ).lean();
    if (!chat) throw notFound();
    return { chatId, participantIds: chat.participants.map(String), frozen: chat.frozen === true };
  }

  /**
   * Everyone who shares an open chat with `userId`: the audience of their presence. A session's
   * chat counts while the session is open, not for good afterwards.
   */
  async contactsOf(userId: string): Promise<string[]> {
    const ids = await this.models.Chat.distinct("participants", {
      participants: userId,
      frozen: { $ne: true },
    });
    return ids.map(String).filter((id) => id !== userId);
  }

  /**
   * The caller's chats, most recent activity first. Session chats belong to their interview
   * screens, not to the chat list: they are listed only with `kind: "session"`.
   */
  async listFor(userId: string, kind: ChatListKind = "direct"): Promise<ChatJson[]> {
    // Chats stored before kinds existed have none: they are direct.
    const kindFilter =
      kind === "session" ? { kind: "session" as const } : { kind: { $ne: "session" as const } };
    const chats = await this.models.Chat.find({ participants: userId, ...kindFilter })
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
        await this.models.Chat.create({ kind: "direct", pairKey, participants: [userId, otherId] });
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
   * The chat of an interview session, made with `members` (its host, at first); the same one
   * however often it is asked for (the key is unique, so two callers at once get one chat).
   */
  async openForSession(sessionId: string, members: ChatMembers): Promise<Types.ObjectId> {
    const pairKey = sessionChatKey(sessionId);
    const upsert = () =>
      this.models.Chat.findOneAndUpdate(
        { pairKey },
        {
          $setOnInsert: {
            kind: "session",
            pairKey,
            session: new Types.ObjectId(sessionId),
            participants: [...new Set(members.memberIds)].map((id) => new Types.ObjectId(id)),
            frozen: members.frozen,
            membersVersion: members.version,
          },
        },
        { upsert: true, returnDocument: "after", projection: { _id: 1 } },
      ).lean();
    let chat: { _id: Types.ObjectId } | null;
    try {
      chat = await upsert();
    } catch (error) {
      // Two upserts at once: the loser's insert hits the unique key; the chat is there now.
      if ((error as { code?: number }).code !== 11000) throw error;
      chat = await upsert();
    }
    if (!chat) throw notFound();
    return chat._id;
  }

  /**
   * Sets who is in a chat whose members follow something else (a session's seat), and whether it
   * is frozen, unless a later change got there first. Every instance then drops what its sockets
   * cached about the chat, and the sockets of those who left stop following it at once; those who
   * came in and are online are introduced to the others.
   */
  async setMembers(chatId: Types.ObjectId | string, members: ChatMembers): Promise<void> {
    const memberIds = [...new Set(members.memberIds)];
    const before = await this.models.Chat.findOneAndUpdate(
      { _id: chatId, membersVersion: { $lt: members.version } },
      {
        $set: {
          participants: memberIds.map((id) => new Types.ObjectId(id)),
          frozen: members.frozen,
          membersVersion: members.version,
        },
      },
      { returnDocument: "before", projection: { participants: 1, frozen: 1 }, timestamps: false },
    ).lean();
    if (!before) return;
    const was = before.participants.map(String);
    const removed = was.filter((id) => !memberIds.includes(id));
    const added = memberIds.filter((id) => !was.includes(id));
    if (removed.length > 0 || added.length > 0 || before.frozen !== members.frozen) {
      this.hub.chatMembersChanged(String(chatId), removed);
    }
    for (const id of added) {
      for (const other of memberIds.filter((m) => m !== id)) {
        await this.introduce(id, other).catch(() => undefined);
      }
    }
  }

  /** Deletes a chat and its messages (its session was deleted). */
  async remove(chatId: Types.ObjectId | string): Promise<void> {
    const chat = await this.models.Chat.findByIdAndDelete(chatId, {
      projection: { _id: 1 },
    }).lean();
    await this.models.Message.deleteMany({ chat: chatId });
    if (chat) this.hub.chatMembersChanged(String(chatId), []);
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
      kind: chat.kind ?? "direct",
      sessionId: chat.session ? String(chat.session) : null,
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
