import mongoose, { Schema, type Types } from "mongoose";

/**
 * `direct`: one per pair of users, for good. `group`: named, with admins, members added and
 * removed. `session`: an interview session's own chat, its members following the session's seat.
 */
export const CHAT_KINDS = ["direct", "group", "session"] as const;
export type ChatKind = (typeof CHAT_KINDS)[number];

export interface ChatDoc {
  _id: Types.ObjectId;
  /** Absent on chats stored before kinds existed: those are direct. */
  kind: ChatKind;
  /** In the order they joined: the first is the longest-standing member. */
  participants: Types.ObjectId[];
  /** A group's name; null for the other kinds. */
  name: string | null;
  /** Who may rename a group, add and remove members, and delete any message in it. */
  admins: Types.ObjectId[];
  /**
   * What makes the chat unique, enforced by a unique index: for a direct chat the two participant
   * ids, sorted and joined (one chat per pair); for a session chat `session:<sessionId>`, for a
   * group `group:<chatId>`, which no pair of ids can spell.
   */
  pairKey: string;
  /** The session of a `session` chat; null for the others. */
  session: Types.ObjectId | null;
  /** No new messages or typing (a session that ended or was cancelled); history stays readable. */
  frozen: boolean;
  /**
   * The owner's count of membership changes this chat reflects (a session's `chatVersion`); a
   * change is taken only over an older one, so changes that land out of order are harmless.
   */
  membersVersion: number;
  lastMessage: Types.ObjectId | null;
  lastMessageAt: Date | null;
  /** The highest `seq` stored in this chat; 0 before the first message. */
  lastSeq: number;
  /**
   * The newest change's `version` (a new message, an edit, a deletion, a reaction), moved up after
   * each one is stored. The messages themselves are the authority; this may briefly lag them.
   */
  version: number;
  /** Each participant's last read `seq`, keyed by user id. Only ever moves forward ($max). */
  lastRead: Map<string, number>;
  createdAt: Date;
  updatedAt: Date;
}

const chatSchema = new Schema<ChatDoc>(
  {
    kind: { type: String, enum: CHAT_KINDS, default: "direct" },
    participants: { type: [{ type: Schema.Types.ObjectId, ref: "User" }], required: true },
    name: { type: String, default: null },
    admins: { type: [{ type: Schema.Types.ObjectId, ref: "User" }], default: [] },
    pairKey: { type: String, required: true },
    session: { type: Schema.Types.ObjectId, ref: "Session", default: null },
    frozen: { type: Boolean, default: false },
    membersVersion: { type: Number, default: 0 },
    lastMessage: { type: Schema.Types.ObjectId, ref: "Message", default: null },
    lastMessageAt: { type: Date, default: null },
    lastSeq: { type: Number, default: 0 },
    version: { type: Number, default: 0 },
    lastRead: { type: Map, of: Number, default: () => new Map() },
  },
  { timestamps: true },
);

chatSchema.index({ pairKey: 1 }, { unique: true });
// "My chats, most recent activity first".
chatSchema.index({ participants: 1, lastMessageAt: -1 });

export function pairKeyOf(a: string, b: string): string {
  return [a, b].sort().join(":");
}

/** A group's key: its own id, so every group is unique and no pair of ids can spell it. */
export function groupChatKey(chatId: string): string {
  return `group:${chatId}`;
}

/** A session chat's key: ObjectIds are hex, so this never equals a pair's. */
export function sessionChatKey(sessionId: string): string {
  return `session:${sessionId}`;
}

export function chatModel(connection: mongoose.Connection) {
  return connection.model<ChatDoc>("Chat", chatSchema);
}
