import { t } from "elysia";
import { RateLimitedError } from "../../errors.ts";
import type { ChatMembersInstruction, Hub } from "../../realtime/hub.ts";
import type { RateLimiter, RateRule, RateRules } from "../../realtime/rate-limit.ts";
import { topics } from "../../realtime/topics.ts";
import { ObjectIdString } from "../common/model.ts";
import type { Changed } from "../messages/changes.ts";
import { EditBody, Emoji, SendBody } from "../messages/model.ts";
import { messageDeletedJson, messageJson } from "../messages/serialize.ts";
import type { MessageService } from "../messages/service.ts";
import { type Socket, socketFeature } from "../realtime/socket-feature.ts";
import { type ChatMembership, type ChatService, chatFrozen } from "./service.ts";

/**
 * Chat on `/ws`: joining a chat (with replay of missed messages and changes), sending, editing,
 * deleting and reacting, typing and read marks.
 */
export const chatEvents = {
  "join-chat": t.Union([
    ObjectIdString,
    t.Object({
      chatId: ObjectIdString,
      after: t.Optional(t.Integer({ minimum: 0, description: "The last seq the client has" })),
      since: t.Optional(
        t.Integer({ minimum: 0, description: "The highest version the client has seen" }),
      ),
    }),
  ]),
  "leave-chat": ObjectIdString,
  "send-message": t.Object({ chatId: ObjectIdString, ...SendBody.properties }),
  "edit-message": t.Object({ messageId: ObjectIdString, ...EditBody.properties }),
  "delete-message": t.Object({ messageId: ObjectIdString }),
  react: t.Object({ messageId: ObjectIdString, emoji: Emoji, on: t.Boolean() }),
  typing: t.Object({ chatId: ObjectIdString, isTyping: t.Boolean() }),
  "mark-read": t.Object({ chatId: ObjectIdString, seq: t.Integer({ minimum: 0 }) }),
};

/** How many missed messages one replay page holds; replay pages until caught up. */
const REPLAY_PAGE = 100;
/** Chats whose last membership change this instance remembers (for reads in flight). */
const REMEMBERED_CHANGES = 10_000;

export interface ChatSocketDeps {
  chats: ChatService;
  messages: MessageService;
  hub: Hub;
  limiter: RateLimiter;
  /** Per-user limits for `send-message` and `typing`. */
  rules: RateRules;
}

export function chatSocket({ chats, messages, hub, limiter, rules }: ChatSocketDeps) {
  /**
   * Chats each socket may act in: checked once, then trusted until the socket closes or the
   * chat's members change (a session's seat changing hands, its end). Such a change reaches every
   * instance on the hub's control topic (`chatMembers`), and drops what was cached here.
   */
  const memberships = new Map<Socket, Map<string, ChatMembership>>();
  const closed = new WeakSet<Socket>();
  /** Membership changes heard so far, and the number of the last one heard for each chat. */
  let changes = 0;
  const lastChange = new Map<string, number>();

  async function member(socket: Socket, chatId: string): Promise<ChatMembership> {
    const cached = memberships.get(socket)?.get(chatId);
    if (cached) return cached;
    for (;;) {
      const asked = changes;
      const membership = await chats.membership(chatId, socket.user.id);
      // A change heard while reading may be newer than what was read: read again.
      if ((lastChange.get(chatId) ?? 0) > asked) continue;
      if (!closed.has(socket)) {
        const known = memberships.get(socket) ?? new Map<string, ChatMembership>();
        memberships.set(socket, known);
        known.set(chatId, membership);
      }
      return membership;
    }
  }

  /** Every socket here forgets the chat's membership; the sockets of `removed` stop following it. */
  function membersChanged({ chatId, removed }: ChatMembersInstruction): void {
    changes++;
    lastChange.delete(chatId);
    lastChange.set(chatId, changes);
    if (lastChange.size > REMEMBERED_CHANGES) {
      const oldest = lastChange.keys().next().value;
      if (oldest !== undefined) lastChange.delete(oldest);
    }
    for (const [socket, known] of memberships) {
      known.delete(chatId);
      if (removed.includes(socket.user.id)) socket.unsubscribe(topics.chat(chatId, socket.user.id));
    }
  }

  async function limit(key: string, rule: RateRule): Promise<void> {
    if (!(await limiter.take(key, rule))) throw new RateLimitedError(Math.ceil(1 / rule.perSecond));
  }

  /**
   * An edit, deletion or reaction: rarer than sends, it shares their budget, and is answered
   * with the version it took (or the message's own, when it changed nothing).
   */
  async function change(
    socket: Socket,
    messageId: string,
    ref: string | undefined,
    apply: () => Promise<Changed>,
  ): Promise<void> {
    await limit(`send:${socket.user.id}`, rules.sendMessage);
    const { message } = await apply();
    socket.send("change-accepted", { messageId, version: message.version ?? 0 }, ref);
  }

  /** Sends this socket every message of the chat after `after`, in order. */
  async function replayAfter(socket: Socket, chatId: string, after: number): Promise<void> {
    let cursor = after;
    for (;;) {
      const page = await messages.history(socket.user.id, chatId, {
        after: cursor,
        limit: REPLAY_PAGE,
      });
      for (const message of page.messages) socket.send("new-message", message);
      const last = page.messages.at(-1);
      if (!page.hasMore || !last) return;
      cursor = last.seq;
    }
  }

  /**
   * Sends this socket every message of the chat changed after version `since`, once, in version
   * order: a deleted one as `message-deleted`, one the client never had as `new-message` (created
   * after `since`, when the client did not say what it has by `after`), any other as
   * `message-updated`. Messages after `after` were just replayed whole, and are not read again.
   */
  async function replaySince(
    socket: Socket,
    chatId: string,
    since: number,
    after: number | undefined,
  ): Promise<void> {
    let cursor = since;
    for (;;) {
      const page = await messages.changes.since(socket.user.id, chatId, {
        since: cursor,
        limit: REPLAY_PAGE,
        upToSeq: after,
      });
      for (const message of page.messages) {
        const createdVersion = message.createdVersion ?? message.version ?? 0;
        const neverHad = after === undefined && createdVersion > since;
        if (message.deleted) socket.send("message-deleted", messageDeletedJson(message));
        else if (neverHad) socket.send("new-message", messageJson(message));
        else socket.send("message-updated", messageJson(message));
      }
      const last = page.messages.at(-1);
      if (!page.hasMore || !last) return;
      cursor = last.version ?? cursor;
    }
  }

  return socketFeature({
    events: chatEvents,
    // Typing needs only the membership, which a socket that joined has cached.
    withoutDatabase: ["typing", "leave-chat"],
    async handle(socket, frame) {
      const { user } = socket;
      switch (frame.event) {
        case "join-chat": {
          const { chatId, after, since } =
            typeof frame.data === "string" ? { chatId: frame.data } : frame.data;
          await member(socket, chatId);
          socket.subscribe(topics.chat(chatId, user.id));
          socket.send("chat-joined", { chatId }, frame.ref);
          if (after !== undefined) await replayAfter(socket, chatId, after);
          if (since !== undefined) await replaySince(socket, chatId, since, after);
          return;
        }
        case "leave-chat":
          socket.unsubscribe(topics.chat(frame.data, user.id));
          return;
        case "send-message": {
          const { chatId, text, clientId, replyTo } = frame.data;
          const membership = await member(socket, chatId);
          await limit(`send:${user.id}`, rules.sendMessage);
          const { message } = await messages.send({
            chatId,
            sender: user,
            text,
            clientId,
            replyTo,
            membership,
          });
          socket.send("message-sent", { clientId: clientId ?? null, message }, frame.ref);
          return;
        }
        case "edit-message":
          return change(socket, frame.data.messageId, frame.ref, () =>
            messages.changes.edit(user.id, frame.data.messageId, frame.data.text),
          );
        case "delete-message":
          return change(socket, frame.data.messageId, frame.ref, () =>
            messages.changes.remove(user.id, frame.data.messageId),
          );
        case "react": {
          const { messageId, emoji, on } = frame.data;
          return change(socket, messageId, frame.ref, () =>
            messages.changes.react(user.id, messageId, emoji, on),
          );
        }
        case "typing": {
          const { chatId, isTyping } = frame.data;
          const membership = await member(socket, chatId);
          if (membership.frozen) throw chatFrozen();
          await limit(`typing:${user.id}`, rules.typing);
          const others = membership.participantIds.filter((id) => id !== user.id);
          hub.toChat(chatId, others, "typing", { userId: user.id, chatId, isTyping });
          return;
        }
        case "mark-read":
          await member(socket, frame.data.chatId);
          await chats.markRead(user.id, frame.data.chatId, frame.data.seq);
          return;
      }
    },
    async closed(socket) {
      closed.add(socket);
      memberships.delete(socket);
    },
    control(instruction) {
      if (instruction.chatMembers) membersChanged(instruction.chatMembers);
    },
  });
}
