import { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import { NotFoundError } from "../../errors.ts";
import type { MessageJson } from "../messages/serialize.ts";
import type { HistoryQuery, MessageService, Sender, SendResult } from "../messages/service.ts";
import type { SessionService } from "../sessions/service.ts";
import { isOpen, seated, sessionNotFound, wrongStatus } from "../sessions/status.ts";
import { requireStream, type StreamService, streamUserId } from "../stream/service.ts";
import { CHAT_SOURCE, type SessionChatMembers } from "./members.ts";

/**
 * A session's chat addressed by its session, the Talent Quotient design's way: its history, a
 * message to it, and the Stream channel for clients built on Stream's chat UI. The chat itself is
 * an ordinary chat of the chats and messages modules (kind "session"), so `/ws` serves it as it
 * serves any other: join-chat with resume, send-message with acknowledgements, typing, read marks.
 * Host and participant only; anyone else hears of no session.
 */
export class SessionChatService {
  constructor(
    private readonly deps: {
      models: Models;
      sessions: SessionService;
      members: SessionChatMembers;
      messages: MessageService;
      /** Null when Stream is not configured. */
      stream: StreamService | null;
    },
  ) {}

  async history(
    userId: string,
    sessionId: string,
    query: HistoryQuery,
  ): Promise<{ messages: MessageJson[]; hasMore: boolean }> {
    const chatId = await this.chatFor(sessionId, userId);
    return this.asSession(this.deps.messages.history(userId, chatId, query));
  }

  async save(
    sender: Sender,
    input: { sessionId: string; text: string; clientId?: string },
  ): Promise<SendResult> {
    const chatId = await this.chatFor(input.sessionId, sender.id);
    return this.asSession(
      this.deps.messages.send({ chatId, sender, text: input.text, clientId: input.clientId }),
    );
  }

  /**
   * Makes sure the session's Stream channel exists with its host and participant in it (a repeat
   * changes nothing); the session must still be open, its channel is deleted once it is over.
   * 503 STREAM_DISABLED without Stream.
   */
  async channel(userId: string, sessionId: string): Promise<{ type: string; id: string }> {
    const stream = requireStream(this.deps.stream);
    const session = await this.deps.sessions.get(sessionId);
    const people = [session.host, session.participant].filter(
      (user) => user !== null && user._id !== "",
    ) as NonNullable<typeof session.participant>[];
    if (!people.some((user) => user._id === userId)) throw sessionNotFound();
    if (!isOpen(session.status)) throw wrongStatus(session.status);
    const members = people.map((user) => ({
      id: streamUserId({ id: user._id, clerkId: user.clerkId }),
      name: user.name,
      image: user.avatar || undefined,
    }));
    const ids = members.map((member) => member.id);
    await stream.upsertUsers(members);
    await stream.createChannel(session.callId, ids[0]!, { name: session.problem, members: ids });
    // A channel that already existed keeps its members: add whoever holds the seat now.
    await stream.addChannelMembers(session.callId, ids);
    return { type: "messaging", id: session.callId };
  }

  /** The session's chat, for its host and participant (anyone else: NOT_FOUND). */
  private async chatFor(sessionId: string, userId: string): Promise<string> {
    if (!Types.ObjectId.isValid(sessionId)) throw sessionNotFound();
    const session = await this.deps.models.Session.findOne(
      { _id: sessionId, ...seated(userId) },
      CHAT_SOURCE,
    ).lean();
    if (!session) throw sessionNotFound();
    return String(await this.deps.members.chatOf(session));
  }

  /** The chat is the session's: whoever may not see it hears of the session, not of a chat. */
  private async asSession<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof NotFoundError) throw sessionNotFound();
      throw error;
    }
  }
}
