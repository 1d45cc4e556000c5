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

/** What one instance tells every instance on the control topic (see the Hub's methods below). */
export interface ControlInstruction {
  /** A user whose account is gone: close all their sockets. */
  disconnect?: string;
  /** A sign-in session that ended (logout): close its sockets, forget it was standing. */
  revokeSignIn?: string;
  /** A user whose every sign-in session ended (logout-all). */
  revokeSignInsOf?: string;
  /** Sockets that must stop holding a room's call (see RoomCallInstruction). */
  roomCall?: RoomCallInstruction;
  /** A chat whose members changed (see ChatMembersInstruction). */
  chatMembers?: ChatMembersInstruction;
}

/**
 * A chat's members changed, or it froze: every socket forgets what it cached about the chat, and
 * the sockets of `removed` users stop following it at once.
 */
export interface ChatMembersInstruction {
  chatId: string;
  removed: string[];
}

function readChatMembers(value: unknown): ChatMembersInstruction | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { chatId, removed } = value as Record<string, unknown>;
  if (typeof chatId !== "string" || !Array.isArray(removed)) return undefined;
  return { chatId, removed: removed.filter((id): id is string => typeof id === "string") };
}

/**
 * Why sockets drop out of a room's call, on whichever instance holds them:
 * - `joined-elsewhere`: another socket of `userId` joined the call as number `seq`; each socket of
 *   theirs that joined with a lower number gives it up (one socket per user per room);
 * - `left`: `userId` left the room (REST); their socket in the call gives it up;
 * - `closed`: the room is gone; every socket in its call gives it up.
 */
export type RoomCallInstruction =
  | { roomId: string; reason: "joined-elsewhere"; userId: string; seq: number }
  | { roomId: string; reason: "left"; userId: string }
  | { roomId: string; reason: "closed" };

function readRoomCall(value: unknown): RoomCallInstruction | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { roomId, reason, userId, seq } = value as Record<string, unknown>;
  if (typeof roomId !== "string") return undefined;
  if (reason === "closed") return { roomId, reason };
  if (typeof userId !== "string") return undefined;
  if (reason === "left") return { roomId, reason, userId };
  if (reason === "joined-elsewhere" && typeof seq === "number") {
    return { roomId, reason, userId, seq };
  }
  return undefined;
}

/** A control message as published by the hub; undefined when it is not one. */
export function readControl(message: string): ControlInstruction | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const instruction: ControlInstruction = {};
  for (const key of ["disconnect", "revokeSignIn", "revokeSignInsOf"] as const) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value === "string") instruction[key] = value;
  }
  const roomCall = readRoomCall((parsed as Record<string, unknown>).roomCall);
  if (roomCall) instruction.roomCall = roomCall;
  const chatMembers = readChatMembers((parsed as Record<string, unknown>).chatMembers);
  if (chatMembers) instruction.chatMembers = chatMembers;
  return instruction;
}

/**
 * Where domain services say who an event is for, in the contract's words: a user (all their
 * sockets), the people in a chat, in a session, in a room's call. The broker decides how it gets
 * there.
 */
export class Hub {
  /** Frames handed to the broker for sockets so far (the metrics' fan-out count). */
  framesPublished = 0;

  constructor(private readonly broker: Broker) {}

  private publish(topic: string, frame: string): void {
    this.framesPublished++;
    this.broker.publish(topic, frame);
  }

  toUser(userId: string, event: string, data: unknown): void {
    this.publish(topics.user(userId), encodeFrame(event, data));
  }

  toUsers(userIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(userIds)) this.publish(topics.user(userId), frame);
  }

  /** To the sockets that joined the chat, for each of `recipientIds` (typically all but the sender). */
  toChat(chatId: string, recipientIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(recipientIds)) this.publish(topics.chat(chatId, userId), frame);
  }

  /** Closes every socket of the user, on every instance (their account is gone). */
  disconnectUser(userId: string): void {
    this.control({ disconnect: userId });
  }

  /** Closes every socket opened with this sign-in session, on every instance (logout). */
  revokeSignIn(signInId: string): void {
    this.control({ revokeSignIn: signInId });
  }

  /** Closes every socket the user opened with any built-in sign-in, on every instance. */
  revokeSignInsOf(userId: string): void {
    this.control({ revokeSignInsOf: userId });
  }

  /** Tells every instance which sockets must give up a room's call, and why. */
  roomCall(instruction: RoomCallInstruction): void {
    this.control({ roomCall: instruction });
  }

  /**
   * Tells every instance that a chat's members changed (or it froze), so that no socket acts on
   * what it cached about the chat, and the sockets of `removed` stop following it.
   */
  chatMembersChanged(chatId: string, removed: string[]): void {
    this.control({ chatMembers: { chatId, removed } });
  }

  /**
   * Tells every other instance how far this one's message log wrote (see MessageLog.heard); with
   * one instance there is no one to tell, and the message is not even built.
   */
  positions(message: () => string): void {
    if (this.broker.spansInstances) this.broker.publish(topics.positions, message());
  }

  private control(instruction: ControlInstruction): void {
    this.broker.publish(topics.control, JSON.stringify(instruction));
  }

  /** To the sockets that joined the session, for each of `recipientIds`. */
  toSession(sessionId: string, recipientIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(recipientIds)) {
      this.publish(topics.session(sessionId, userId), frame);
    }
  }

  /** To the socket of each of `recipientIds` that holds the room's call. */
  toRoom(roomId: string, recipientIds: Iterable<string>, event: string, data: unknown): void {
    const frame = encodeFrame(event, data);
    for (const userId of new Set(recipientIds)) {
      this.publish(topics.room(roomId, userId), frame);
    }
  }
}
