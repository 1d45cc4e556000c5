import type { Broker } from "./broker.ts";
import { topics } from "./topics.ts";

/** A server → client frame, as the contract spells it. */
export interface ServerFrame {
  event: string;
  data: unknown;
}

export function encodeFrame(event: string, data: unknown): string {
  return JSON.stringify({ event, data });
}

/**
 * Where domain services say who an event is for, in the contract's words: a user (all their
 * sockets), the people in a chat, the people in a session. The broker decides how it gets there.
 */
export class Hub {
  constructor(private readonly broker: Broker) {}

  toUser(userId: string, event: string, data: unknown): void {
    this.broker.publish(topics.user(userId), encodeFrame(event, data));
  }

  toUsers(userIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(userIds)) this.broker.publish(topics.user(userId), frame);
  }

  /** To the sockets that joined the chat, for each of `recipientIds` (typically all but the sender). */
  toChat(chatId: string, recipientIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(recipientIds))
      this.broker.publish(topics.chat(chatId, userId), frame);
  }

  /** Closes every socket of the user, on every instance (their account is gone). */
  disconnectUser(userId: string): void {
    this.broker.publish(topics.control, JSON.stringify({ disconnect: userId }));
  }

  /** To the sockets that joined the session, for each of `recipientIds`. */
  toSession(sessionId: string, recipientIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(recipientIds)) {
      this.broker.publish(topics.session(sessionId, userId), frame);
    }
  }
}
