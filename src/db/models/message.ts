import mongoose, { Schema, type Types } from "mongoose";

/** What a reply shows of the message it answers, copied when the reply is sent. */
export interface ReplyQuote {
  _id: Types.ObjectId;
  seq: number;
  /** The first 200 characters; "" once the quoted message is deleted. */
  text: string;
  sender: { _id: Types.ObjectId; name: string; avatar: string };
}

export interface Reaction {
  emoji: string;
  userIds: Types.ObjectId[];
}

/**
 * A message is its own latest state: an edit, a deletion or a reaction changes the document and
 * gives it the chat's next `version`, so "what changed since version v" is one indexed query and
 * no separate log of changes is kept.
 */
export interface MessageDoc {
  _id: Types.ObjectId;
  chat: Types.ObjectId;
  sender: Types.ObjectId;
  text: string;
  seq: number;
  clientId?: string;
  /** Absent until a reply is sent (new messages are stored lean). */
  replyTo?: ReplyQuote | null;
  editedAt?: Date | null;
  /** A tombstone: the text, quote and reactions are gone; `seq` stays. */
  deleted?: boolean;
  reactions?: Reaction[];
  /** The chat's version of this message's latest change; absent on messages stored before versions. */
  version?: number;
  /**
   * The version the message was created with, kept once it changes (until then it is `version`):
   * a client resuming from a version learns whether it ever had the message.
   */
  createdVersion?: number;
  createdAt: Date;
  updatedAt: Date;
}

const messageSchema = new Schema<MessageDoc>(
  {
    chat: { type: Schema.Types.ObjectId, ref: "Chat", required: true },
    sender: { type: Schema.Types.ObjectId, ref: "User", required: true },
    // Empty only for a deleted message.
    text: { type: String, default: "" },
    seq: { type: Number, required: true },
    clientId: { type: String },
    replyTo: {
      type: new Schema(
        {
          _id: { type: Schema.Types.ObjectId, required: true },
          seq: Number,
          text: String,
          sender: { _id: Schema.Types.ObjectId, name: String, avatar: String },
        },
        { _id: false },
      ),
      default: undefined,
    },
    editedAt: { type: Date },
    deleted: { type: Boolean },
    reactions: {
      type: [
        new Schema({ emoji: String, userIds: [{ type: Schema.Types.ObjectId }] }, { _id: false }),
      ],
      default: undefined,
    },
    version: { type: Number },
    createdVersion: { type: Number },
  },
  { timestamps: true },
);

// No two messages share a place in a chat: this is what keeps `seq` gap-free and unique.
messageSchema.index({ chat: 1, seq: 1 }, { unique: true });
// No two changes share a version in a chat, and "changed since v" reads this index forward.
// Partial, so messages stored before versions existed (no `version`) do not collide as nulls.
messageSchema.index(
  { chat: 1, version: 1 },
  { unique: true, partialFilterExpression: { version: { $gt: 0 } } },
);
// A resend with the same clientId finds the first message instead of making a second.
messageSchema.index(
  { sender: 1, clientId: 1 },
  { unique: true, partialFilterExpression: { clientId: { $type: "string" } } },
);

export function messageModel(connection: mongoose.Connection) {
  return connection.model<MessageDoc>("Message", messageSchema);
}
