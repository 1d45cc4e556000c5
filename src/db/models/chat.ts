import mongoose, { Schema, type Types } from "mongoose";

export interface ChatDoc {
  _id: Types.ObjectId;
  participants: Types.ObjectId[];
  /** The two participant ids, sorted and joined: one chat per pair, enforced by a unique index. */
  pairKey: string;
  lastMessage: Types.ObjectId | null;
  lastMessageAt: Date | null;
  /** The highest `seq` stored in this chat; 0 before the first message. */
  lastSeq: number;
  /** Each participant's last read `seq`, keyed by user id. Only ever moves forward ($max). */
  lastRead: Map<string, number>;
  createdAt: Date;
  updatedAt: Date;
}

const chatSchema = new Schema<ChatDoc>(
  {
    participants: { type: [{ type: Schema.Types.ObjectId, ref: "User" }], required: true },
    pairKey: { type: String, required: true },
    lastMessage: { type: Schema.Types.ObjectId, ref: "Message", default: null },
    lastMessageAt: { type: Date, default: null },
    lastSeq: { type: Number, default: 0 },
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

export function chatModel(connection: mongoose.Connection) {
  return connection.model<ChatDoc>("Chat", chatSchema);
}
