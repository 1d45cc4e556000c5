import mongoose, { Schema, type Types } from "mongoose";

export interface MessageDoc {
  _id: Types.ObjectId;
  chat: Types.ObjectId;
  sender: Types.ObjectId;
  text: string;
  seq: number;
  clientId?: string;
  createdAt: Date;
  updatedAt: Date;
}

const messageSchema = new Schema<MessageDoc>(
  {
    chat: { type: Schema.Types.ObjectId, ref: "Chat", required: true },
    sender: { type: Schema.Types.ObjectId, ref: "User", required: true },
    text: { type: String, required: true },
    seq: { type: Number, required: true },
    clientId: { type: String },
  },
  { timestamps: true },
);

// No two messages share a place in a chat: this is what keeps `seq` gap-free and unique.
messageSchema.index({ chat: 1, seq: 1 }, { unique: true });
// A resend with the same clientId finds the first message instead of making a second.
messageSchema.index(
  { sender: 1, clientId: 1 },
  { unique: true, partialFilterExpression: { clientId: { $type: "string" } } },
);

export function messageModel(connection: mongoose.Connection) {
  return connection.model<MessageDoc>("Message", messageSchema);
}
