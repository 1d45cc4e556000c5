import { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import type { MessageDoc, Reaction } from "../../db/models/message.ts";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import { type ChatMembership, type ChatService, chatFrozen } from "../chats/service.ts";
import { type MessageLog, newestVersion } from "./log.ts";
import { messageDeletedJson, messageJson, type PopulatedMessage } from "./serialize.ts";

export const MAX_TEXT = 4000;
/** How much of a message a reply quotes. */
export const QUOTE_LENGTH = 200;
/** Different emoji on one message; one more is refused. */
export const MAX_EMOJI_PER_MESSAGE = 50;
/** Tries at a change before giving up: each lost race re-reads the message and tries again. */
const MAX_ATTEMPTS = 10;

export interface ChangesQuery {
  since: number;
  limit: number;
  /** Only messages up to this `seq` (a replay that already sent the later ones whole). */
  upToSeq?: number;
}

/** What a change sets on a message, or null when it would change nothing. */
type Decision = Partial<
  Pick<MessageDoc, "text" | "editedAt" | "deleted" | "reactions" | "replyTo">
>;

/** A message after a change: `changed` is false when it already was as asked (no new version). */
export interface Changed {
  message: PopulatedMessage;
  changed: boolean;
}

const messageNotFound = () => new NotFoundError("Message not found");
const messageDeleted = () => new ConflictError("This message was deleted", "MESSAGE_DELETED");

export function trimmedText(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length < 1 || trimmed.length > MAX_TEXT) {
    throw new ValidationError("The message is invalid", [
      { path: "text", message: `must be 1 to ${MAX_TEXT} characters once trimmed` },
    ]);
  }
  return trimmed;
}

/**
 * Edits, deletions and reactions: each changes the message document itself and gives it the
 * chat's next version, so the document is its own latest state and "what changed since" is one
 * indexed read (`since`). A change is a compare-and-set on the version the message had when it
 * was read: two changes to one message at once both land, one after the other, each with its own
 * version, and every member hears of each (`message-updated` / `message-deleted`).
 *
 * A version is the chat's newest stored version plus one, claimed by the unique (chat, version)
 * index: another change or a new message taking it first means reading and trying again.
 */
export class MessageChanges {
  constructor(
    private readonly models: Models,
    private readonly hub: Hub,
    private readonly chats: ChatService,
    private readonly log: MessageLog,
  ) {}

  /** The sender changes their message's text. */
  async edit(userId: string, messageId: string, text: string): Promise<Changed> {
    const trimmed = trimmedText(text);
    return this.change(userId, messageId, (message) => {
      if (String(message.sender) !== userId) {
        throw new ForbiddenError("Only its sender can edit a message");
      }
      if (message.deleted) throw messageDeleted();
      if (message.text === trimmed) return null;
      return { text: trimmed, editedAt: new Date() };
    });
  }

  /**
   * Deletes a message: its sender, or an admin of its group. It stays in its place as a tombstone
   * (`seq` kept, text, quote and reactions gone). Deleting it again changes nothing.
   */
  async remove(userId: string, messageId: string): Promise<Changed> {
    return this.change(userId, messageId, (message, chat) => {
      const admin = chat.kind === "group" && chat.admins.includes(userId);
      if (String(message.sender) !== userId && !admin) {
        throw new ForbiddenError("Only its sender or a group admin can delete a message");
      }
      if (message.deleted) return null;
      return { text: "", deleted: true, reactions: [], replyTo: null };
    });
  }

  /** Adds (`on`) or takes back the caller's reaction with `emoji`: one per user per emoji. */
  async react(userId: string, messageId: string, emoji: string, on: boolean): Promise<Changed> {
    return this.change(userId, messageId, (message) => {
      if (message.deleted) throw messageDeleted();
      const reactions = message.reactions ?? [];
      const reaction = reactions.find((r) => r.emoji === emoji);
      const has = reaction?.userIds.some((id) => String(id) === userId) === true;
      if (has === on) return null;
      const user = new Types.ObjectId(userId);
      if (on && !reaction && reactions.length >= MAX_EMOJI_PER_MESSAGE) {
        throw new ConflictError(
          `A message holds at most ${MAX_EMOJI_PER_MESSAGE} different emoji`,
          "TOO_MANY_REACTIONS",
        );
      }
      const next: Reaction[] = on
        ? reaction
          ? reactions.map((r) => (r === reaction ? { emoji, userIds: [...r.userIds, user] } : r))
          : [...reactions, { emoji, userIds: [user] }]
        : reactions
            .map((r) =>
              r === reaction ? { emoji, userIds: r.userIds.filter((id) => !id.equals(user)) } : r,
            )
            .filter((r) => r.userIds.length > 0);
      return { reactions: next };
    });
  }

  /** Every message of the chat changed after version `since`, once, ascending version. */
  async since(
    userId: string,
    chatId: string,
    query: ChangesQuery,
  ): Promise<{ messages: PopulatedMessage[]; hasMore: boolean }> {
    await this.chats.membership(chatId, userId);
    const page = (await this.models.Message.find({
      chat: new Types.ObjectId(chatId),
      version: { $gt: query.since },
      ...(query.upToSeq === undefined ? {} : { seq: { $lte: query.upToSeq } }),
    })
      .sort({ version: 1 })
      .limit(query.limit + 1)
      .populate("sender", "name avatar")
      .lean()) as unknown as PopulatedMessage[];
    return { messages: page.slice(0, query.limit), hasMore: page.length > query.limit };
  }

  private async change(
    userId: string,
    messageId: string,
    decide: (message: MessageDoc, chat: ChatMembership) => Decision | null,
  ): Promise<Changed> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const message = Types.ObjectId.isValid(messageId)
        ? await this.models.Message.findById(messageId).lean()
        : null;
      if (!message) throw messageNotFound();
      const chatId = String(message.chat);
      // A stranger learns nothing, not even that the message exists.
      const chat = await this.chats.membership(chatId, userId).catch((error: unknown) => {
        throw error instanceof NotFoundError ? messageNotFound() : error;
      });
      if (chat.frozen) throw chatFrozen();
      const decision = decide(message, chat);
      if (!decision) return { message: await this.populate(message), changed: false };
      const version =
        Math.max(await newestVersion(this.models, message.chat), this.log.knownVersion(chatId)) + 1;
      let changed: MessageDoc | null;
      try {
        changed = await this.models.Message.findOneAndUpdate(
          { _id: message._id, version: message.version ?? { $exists: false } },
          {
            $set: {
              ...decision,
              version,
              // Until its first change a message's version is the one it was created with.
              ...(message.createdVersion === undefined
                ? { createdVersion: message.version ?? 0 }
                : {}),
            },
          },
          { returnDocument: "after" },
        ).lean();
      } catch (error) {
        if ((error as { code?: number }).code === 11000) continue;
        throw error;
      }
      // Someone else changed it first: read it again and decide anew.
      if (!changed) continue;
      this.log.changed(chatId, version);
      // Announced first: the sooner a version goes out after it is taken, the less often two
      // changes reach a socket in the other order.
      const populated = await this.populate(changed);
      if (changed.deleted) {
        this.hub.toUsers(chat.participantIds, "message-deleted", messageDeletedJson(populated));
      } else {
        this.hub.toUsers(chat.participantIds, "message-updated", messageJson(populated));
      }
      await this.models.Chat.updateOne(
        { _id: message.chat },
        { $max: { version } },
        { timestamps: false },
      );
      if (decision.text !== undefined) await this.requote(changed);
      return { message: populated, changed: true };
    }
    throw new ConflictError("The message is changing too fast right now; try again", "CONFLICT");
  }

  /**
   * Replies quote a message as it was sent; when it is edited or deleted, their quotes follow
   * (without a version of their own: a client that holds them follows the quoted message's own
   * `message-updated` / `message-deleted`).
   */
  private async requote(message: MessageDoc): Promise<void> {
    await this.models.Message.updateMany(
      { chat: message.chat, seq: { $gt: message.seq }, "replyTo._id": message._id },
      { $set: { "replyTo.text": message.text.slice(0, QUOTE_LENGTH) } },
      { timestamps: false },
    );
  }

  private async populate(message: MessageDoc): Promise<PopulatedMessage> {
    return (await this.models.Message.populate(message, {
      path: "sender",
      select: "name avatar",
    })) as unknown as PopulatedMessage;
  }
}
