import { Types } from "mongoose";
import type { ChatKind } from "../../db/models/chat.ts";
import type { Models } from "../../db/models/index.ts";
import type { ReplyQuote } from "../../db/models/message.ts";
import { ConflictError, ValidationError } from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import { type ChatMembership, type ChatService, chatFrozen } from "../chats/service.ts";
import { MessageChanges, QUOTE_LENGTH, trimmedText } from "./changes.ts";
import { MessageLog } from "./log.ts";
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
  /** The id of the message this one answers (of the same chat). */
  replyTo?: string;
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

/** A message just stored, and the chat it went to: what push notifications are made from. */
export interface MessageStored {
  chat: { id: string; kind: ChatKind; name: string | null; memberIds: string[] };
  message: MessageJson;
  /** From the send arriving here to its fan-out: what its sender waits before the acknowledgement. */
  elapsedMs: number;
}

/** Told of every stored message after its fan-out; must not block or throw (push, metrics). */
export interface StoredListener {
  messageStored(event: MessageStored): void;
}

/**
 * Sending and reading messages. REST and WebSocket sends both come here. A message is stored
 * before anyone hears of it; `seq` is the next free number in its chat, claimed by the unique
 * (chat, seq) index, so it has no gaps even with several instances writing at once. The writing
 * itself, grouped per chat, is the message log's.
 */
export class MessageService {
  private readonly log: MessageLog;
  /** Edits, deletions, reactions, and what changed since a version. */
  readonly changes: MessageChanges;

  constructor(
    private readonly models: Models,
    private readonly hub: Hub,
    private readonly chats: ChatService,
    private readonly listeners: StoredListener[] = [],
  ) {
    this.log = new MessageLog(models, (positions) => hub.positions(positions));
    this.changes = new MessageChanges(models, hub, chats, this.log);
  }

  async send(input: SendInput): Promise<SendResult> {
    const startedAt = performance.now();
    const text = trimmedText(input.text);
    const membership =
      input.membership ?? (await this.chats.membership(input.chatId, input.sender.id));
    if (membership.frozen) {
      // A resend of what was stored before the chat froze still gets its message back.
      const earlier =
        input.clientId && (await this.log.byClientId(input.sender.id, input.clientId));
      if (!earlier) throw chatFrozen();
      return this.resent(earlier, input.chatId, membership);
    }
    const replyTo = input.replyTo ? await this.quote(input.chatId, input.replyTo) : undefined;
    const appended = await this.log.append({
      chatId: input.chatId,
      senderId: input.sender.id,
      text,
      clientId: input.clientId,
      replyTo,
    });
    if (!appended.created) return this.resent(appended.earlier, input.chatId, membership);
    const stored = appended.message;
    const message = messageJson({
      ...stored,
      sender: { _id: stored.sender, name: input.sender.name, avatar: input.sender.avatar },
    });
    const others = membership.participantIds.filter((id) => id !== input.sender.id);
    this.hub.toUsers(membership.participantIds, "new-message", message);
    // A sent message ends its sender's typing.
    this.hub.toChat(input.chatId, others, "typing", {
      userId: input.sender.id,
      chatId: input.chatId,
      isTyping: false,
    });
    const event: MessageStored = {
      chat: {
        id: input.chatId,
        kind: membership.kind,
        name: membership.name,
        memberIds: membership.participantIds,
      },
      message,
      elapsedMs: performance.now() - startedAt,
    };
    for (const listener of this.listeners) listener.messageStored(event);
    return { message, created: true };
  }

  /** Another instance's message log says how far it wrote (the hub's positions topic). */
  heard(message: string): void {
    this.log.heard(message);
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

  /** What a reply shows of the message it answers, which must be of the same chat. */
  private async quote(chatId: string, messageId: string): Promise<ReplyQuote> {
    const quoted = Types.ObjectId.isValid(messageId)
      ? ((await this.models.Message.findOne(
          { _id: messageId, chat: chatId },
          { seq: 1, text: 1, sender: 1 },
        )
          .populate("sender", "name avatar")
          .lean()) as unknown as PopulatedMessage | null)
      : null;
    if (!quoted) {
      throw new ValidationError("The message is invalid", [
        { path: "replyTo", message: "must be a message of this chat" },
      ]);
    }
    return {
      _id: quoted._id,
      seq: quoted.seq,
      text: quoted.text.slice(0, QUOTE_LENGTH),
      sender: {
        _id: quoted.sender?._id ?? new Types.ObjectId("000000000000000000000000"),
        name: quoted.sender?.name ?? "Deleted user",
        avatar: quoted.sender?.avatar ?? "",
      },
    };
  }

  /**
   * A resend of a stored message. Its first send may have been cut short by a crash after the
   * message was stored but before its chat was updated or anyone heard of it, so the chat's
   * summary is caught up and the message fanned out again: receivers drop what they have by `seq`.
   */
  private async resent(
    earlier: PopulatedMessage,
    chatId: string,
    membership: ChatMembership,
  ): Promise<SendResult> {
    if (String(earlier.chat) !== chatId) {
      throw new ConflictError(
        "This clientId was already used for another chat",
        "CLIENT_ID_REUSED",
      );
    }
    await this.log.catchUp(earlier);
    const message = messageJson(earlier);
    this.hub.toUsers(membership.participantIds, "new-message", message);
    return { message, created: false };
  }
}
