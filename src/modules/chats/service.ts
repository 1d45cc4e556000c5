import { Types } from "mongoose";
import type { ChatDoc, ChatKind } from "../../db/models/chat.ts";
import { groupChatKey, pairKeyOf, sessionChatKey } from "../../db/models/chat.ts";
import type { Models } from "../../db/models/index.ts";
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import type { Presence } from "../../realtime/presence.ts";
import { type MessageJson, messageJson, type PopulatedMessage } from "../messages/serialize.ts";
import type { PublicUser } from "../users/model.ts";
import { type StoredUser, toUserJson } from "../users/service.ts";

export interface ChatJson {
  _id: string;
  kind: ChatKind;
  name: string | null;
  admins: string[];
  sessionId: string | null;
  participants: PublicUser[];
  lastMessage: MessageJson | null;
  lastMessageAt: string | null;
  lastSeq: number;
  unreadCount: number;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** What sending, typing and changing messages need to know about a chat: who is in it, and how. */
export interface ChatMembership {
  chatId: string;
  kind: ChatKind;
  /** A group's name; null for the other kinds. */
  name: string | null;
  participantIds: string[];
  /** A group's admins; empty for the other kinds. */
  admins: string[];
  /** No new messages or typing: its session is over. */
  frozen: boolean;
}

/** The most members a group holds, its creator included. */
export const MAX_GROUP_MEMBERS = 100;
export const MAX_GROUP_NAME = 80;

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

const notAGroup = () =>
  new BadRequestError("Only a group chat has a name and members to change", "NOT_A_GROUP");

const MEMBERSHIP_FIELDS = { kind: 1, name: 1, participants: 1, admins: 1, frozen: 1 } as const;

function membershipOf(
  chatId: string,
  chat: Pick<ChatDoc, "kind" | "name" | "participants" | "admins" | "frozen">,
): ChatMembership {
  return {
    chatId,
    kind: chat.kind ?? "direct",
    name: chat.name ?? null,
    participantIds: chat.participants.map(String),
    admins: (chat.admins ?? []).map(String),
    frozen: chat.frozen === true,
  };
}

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
      MEMBERSHIP_FIELDS,
    ).lean();
    if (!chat) throw notFound();
    return membershipOf(chatId, chat);
  }

  /**
   * Everyone who shares an open chat with `userId`: the audience of their presence. A session's
   * chat counts while the session is open, not for good afterwards.
   */
  async contactsOf(userId: string): Promise<string[]> {
    // The driver directly: every socket that opens asks this, and Mongoose's query and casting
    // were most of what an upgrade allocated.
    const ids = await this.models.Chat.collection.distinct("participants", {
      participants: new Types.ObjectId(userId),
      frozen: { $ne: true },
    });
    return ids.map(String).filter((id) => id !== userId);
  }

  /**
   * The caller's chats, most recent activity first: direct and group chats, or the one kind asked
   * for. Session chats belong to their interview screens, not to the chat list: they are listed
   * only when asked for.
   */
  async listFor(userId: string, kind?: ChatKind): Promise<ChatJson[]> {
    // Chats stored before kinds existed have none: they are direct.
    const kindFilter =
      kind === undefined
        ? { kind: { $ne: "session" as const } }
        : kind === "direct"
          ? { kind: { $nin: ["group", "session"] } }
          : { kind };
    const chats = await this.populated(
      { participants: userId, ...kindFilter },
      { lastMessageAt: -1, createdAt: -1 },
    );
    return chats.map((chat) => this.toJson(chat, userId));
  }

  /** One chat, if the caller is in it. */
  async get(userId: string, chatId: string): Promise<ChatJson> {
    if (!Types.ObjectId.isValid(chatId)) throw notFound();
    const [chat] = await this.populated({ _id: chatId, participants: userId });
    if (!chat) throw notFound();
    return this.toJson(chat, userId);
  }

  /** A group of the caller (its admin) and the others; each member hears of it (`chat-updated`). */
  async createGroup(userId: string, name: string, participantIds: string[]): Promise<ChatJson> {
    const title = groupName(name);
    const others = [...new Set(participantIds)].filter((id) => id !== userId);
    if (others.length === 0) {
      throw new ValidationError("A group needs someone besides you", [
        { path: "participantIds", message: "must name at least one other user" },
      ]);
    }
    if (others.length >= MAX_GROUP_MEMBERS) {
      throw new ValidationError("A group is too large", [
        { path: "participantIds", message: `at most ${MAX_GROUP_MEMBERS - 1} others` },
      ]);
    }
    const found = await this.models.User.countDocuments({ _id: { $in: others } });
    if (found !== others.length) throw new NotFoundError("User not found");
    const _id = new Types.ObjectId();
    const members = [userId, ...others];
    await this.models.Chat.create({
      _id,
      kind: "group",
      name: title,
      pairKey: groupChatKey(String(_id)),
      participants: members,
      admins: [userId],
    });
    await this.introduceNewcomers(others, members).catch(() => undefined);
    return this.announce(String(_id), members, userId);
  }

  /** Renames a group (its admins only). */
  async rename(userId: string, chatId: string, name: string): Promise<ChatJson> {
    const title = groupName(name);
    const membership = await this.adminOf(chatId, userId);
    await this.models.Chat.updateOne({ _id: chatId }, { $set: { name: title } });
    return this.announce(chatId, membership.participantIds, userId);
  }

  /**
   * Adds a member to a group (its admins only): they see the whole history, and every member,
   * the newcomer included, hears of it. Adding a member twice changes nothing.
   */
  async addMember(userId: string, chatId: string, memberId: string): Promise<ChatJson> {
    const membership = await this.adminOf(chatId, userId);
    if (!Types.ObjectId.isValid(memberId) || !(await this.models.User.exists({ _id: memberId }))) {
      throw new NotFoundError("User not found");
    }
    if (membership.participantIds.includes(memberId)) return this.get(userId, chatId);
    const added = await this.models.Chat.findOneAndUpdate(
      {
        _id: chatId,
        admins: userId,
        participants: { $ne: new Types.ObjectId(memberId) },
        [`participants.${MAX_GROUP_MEMBERS - 1}`]: { $exists: false },
      },
      { $push: { participants: new Types.ObjectId(memberId) } },
      { returnDocument: "after", projection: MEMBERSHIP_FIELDS },
    ).lean();
    if (!added) {
      // Someone else changed the group meanwhile: say why from what it is now.
      const now = await this.adminOf(chatId, userId);
      if (now.participantIds.includes(memberId)) return this.get(userId, chatId);
      throw new ConflictError(`A group holds at most ${MAX_GROUP_MEMBERS} members`, "GROUP_FULL");
    }
    const members = added.participants.map(String);
    this.hub.chatMembersChanged(chatId, []);
    await this.introduceNewcomers([memberId], members).catch(() => undefined);
    return this.announce(chatId, members, userId);
  }

  /**
   * Takes a member out of a group: an admin removes anyone, anyone removes themself. Their sockets
   * stop following the chat at once, on every instance; they and the members who remain hear of
   * it. A group left without admins gets its longest-standing member as one.
   */
  async removeMember(userId: string, chatId: string, memberId: string): Promise<void> {
    const self = userId === memberId;
    const membership = self
      ? await this.membership(chatId, userId)
      : await this.adminOf(chatId, userId);
    if (membership.kind !== "group") throw notAGroup();
    if (!membership.participantIds.includes(memberId)) throw new NotFoundError("Member not found");
    const member = new Types.ObjectId(memberId);
    const after = await this.models.Chat.findOneAndUpdate(
      { _id: chatId, participants: member },
      { $pull: { participants: member, admins: member } },
      { returnDocument: "after", projection: MEMBERSHIP_FIELDS },
    ).lean();
    if (!after) return;
    const heir = after.participants[0];
    if ((after.admins ?? []).length === 0 && heir) {
      await this.models.Chat.updateOne(
        { _id: chatId, admins: { $size: 0 }, participants: heir },
        { $set: { admins: [heir] } },
      );
    }
    this.hub.chatMembersChanged(chatId, [memberId]);
    await this.announce(chatId, [...after.participants.map(String), memberId], userId);
  }

  /** The group's membership, if `userId` is its admin: 404 for strangers, 403 for members. */
  private async adminOf(chatId: string, userId: string): Promise<ChatMembership> {
    const membership = await this.membership(chatId, userId);
    if (membership.kind !== "group") throw notAGroup();
    if (!membership.admins.includes(userId)) {
      throw new ForbiddenError("Only the group's admins can do that");
    }
    return membership;
  }

  /**
   * Sends each of `userIds` the chat as they see it (`chat-updated`), and returns it as `viewerId`
   * sees it.
   */
  private async announce(chatId: string, userIds: string[], viewerId: string): Promise<ChatJson> {
    const [chat] = await this.populated({ _id: chatId });
    if (!chat) throw notFound();
    for (const id of new Set(userIds)) {
      this.hub.toUser(id, "chat-updated", { chat: this.toJson(chat, id) });
    }
    return this.toJson(chat, viewerId);
  }

  private populated(
    filter: Record<string, unknown>,
    sort: Record<string, 1 | -1> = {},
  ): Promise<PopulatedChat[]> {
    return this.models.Chat.find(filter)
      .sort(sort)
      .populate("participants")
      .populate({ path: "lastMessage", populate: { path: "sender", select: "name avatar" } })
      .lean() as unknown as Promise<PopulatedChat[]>;
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
    const [chat] = await this.populated({ pairKey });
    if (!chat) throw notFound();
    return { chat: this.toJson(chat, userId), created };
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

  /**
   * Those of `newcomers` now in a chat with `members` meet them: whoever of the two is online is
   * announced to the other (one presence read for all of them).
   */
  private async introduceNewcomers(newcomers: string[], members: string[]): Promise<void> {
    const online = new Set(await this.presence.online(members));
    for (const newcomer of newcomers) {
      for (const other of members) {
        if (other === newcomer) continue;
        if (online.has(other)) this.hub.toUser(newcomer, "user-online", { userId: other });
        if (online.has(newcomer) && !newcomers.includes(other)) {
          this.hub.toUser(other, "user-online", { userId: newcomer });
        }
      }
    }
  }

  /**
   * Moves the caller's read mark forward (never back, never past the last message). In a direct
   * chat the other participant hears of it (`chat-read`); in a group, the members who have the
   * chat open (joined it), since a read mark matters to those looking at the messages.
   */
  async markRead(userId: string, chatId: string, seq: number): Promise<void> {
    if (!Types.ObjectId.isValid(chatId)) throw notFound();
    const chat = await this.models.Chat.findOne(
      { _id: chatId, participants: userId },
      { kind: 1, participants: 1, lastSeq: 1 },
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
    const read = { chatId, userId, seq: mark };
    if (chat.kind === "group") this.hub.toChat(chatId, others, "chat-read", read);
    else this.hub.toUsers(others, "chat-read", read);
  }

  private toJson(chat: PopulatedChat, userId: string): ChatJson {
    const lastRead = readMark(chat.lastRead, userId);
    return {
      _id: String(chat._id),
      kind: chat.kind ?? "direct",
      name: chat.name ?? null,
      admins: (chat.admins ?? []).map(String),
      sessionId: chat.session ? String(chat.session) : null,
      participants: chat.participants.map(toUserJson),
      lastMessage: chat.lastMessage ? messageJson(chat.lastMessage) : null,
      lastMessageAt: chat.lastMessageAt ? chat.lastMessageAt.toISOString() : null,
      lastSeq: chat.lastSeq,
      unreadCount: Math.max(0, chat.lastSeq - lastRead),
      version: chat.version ?? 0,
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

function groupName(name: string): string {
  const title = name.trim();
  if (title.length < 1 || title.length > MAX_GROUP_NAME) {
    throw new ValidationError("The group name is invalid", [
      { path: "name", message: `must be 1 to ${MAX_GROUP_NAME} characters once trimmed` },
    ]);
  }
  return title;
}

/** `lean()` gives the read marks as a plain object; a hydrated document gives a Map. */
function readMark(lastRead: PopulatedChat["lastRead"], userId: string): number {
  if (!lastRead) return 0;
  if (lastRead instanceof Map) return lastRead.get(userId) ?? 0;
  return lastRead[userId] ?? 0;
}
