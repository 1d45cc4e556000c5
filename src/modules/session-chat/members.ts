import type { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import type { SessionDoc } from "../../db/models/session.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { ChatMembers, ChatService } from "../chats/service.ts";
import { isOver } from "../sessions/status.ts";

/** What a session's chat follows: who holds a place, whether it is over, and since when. */
export type ChatSource = Pick<
  SessionDoc,
  "_id" | "host" | "participant" | "status" | "chatId" | "chatVersion"
>;
/** The projection that reads a ChatSource. */
export const CHAT_SOURCE = {
  host: 1,
  participant: 1,
  status: 1,
  chatId: 1,
  chatVersion: 1,
} as const;

/**
 * Keeps a session's chat in step with the session: its members are the host and whoever holds the
 * seat, and it freezes once the session is over. Each change of seat or status counts up the
 * session's `chatVersion` in the same conditional update that makes it; the chat takes a change
 * only over an older one (ChatService.setMembers), so two that land out of order cannot leave it
 * with an earlier seat, and every instance's sockets drop what they cached about it.
 */
export class SessionChatMembers {
  constructor(private readonly deps: { models: Models; chats: ChatService; log: Logger }) {}

  /** The chat of a new session: its host alone. */
  open(sessionId: string, hostId: string): Promise<Types.ObjectId> {
    return this.deps.chats.openForSession(sessionId, {
      memberIds: [hostId],
      frozen: false,
      version: 0,
    });
  }

  /** The chat takes the session's seat and status, unless a later change got there first. */
  async follow(session: ChatSource): Promise<void> {
    if (!session.chatId) {
      await this.chatOf(session);
      return;
    }
    await this.deps.chats.setMembers(session.chatId, membersOf(session));
  }

  /**
   * After a conditional update that matched nothing: the chat catches up, in case an earlier
   * change reached the session but not its chat (its second write failed). Never fails: the caller
   * is about to say why their update did not match.
   */
  async repair(session: ChatSource): Promise<void> {
    await this.follow(session).catch((error: unknown) =>
      this.deps.log.warn({ err: error, sessionId: String(session._id) }, "chat not caught up"),
    );
  }

  /**
   * The session's chat; for a session stored before sessions had chats, made now as it would have
   * been (its key is unique, so two callers at once make one).
   */
  async chatOf(session: ChatSource): Promise<Types.ObjectId> {
    if (session.chatId) return session.chatId;
    const chatId = await this.deps.chats.openForSession(String(session._id), membersOf(session));
    await this.deps.models.Session.updateOne(
      { _id: session._id, chatId: null },
      { $set: { chatId } },
    );
    return chatId;
  }

  /** The chat and its messages go with their session. */
  remove(chatId: Types.ObjectId): Promise<void> {
    return this.deps.chats.remove(chatId);
  }
}

function membersOf(session: ChatSource): ChatMembers {
  const memberIds = [session.host, session.participant].filter((id) => id !== null).map(String);
  return { memberIds, frozen: isOver(session.status), version: session.chatVersion ?? 0 };
}
