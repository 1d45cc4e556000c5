import type { Types } from "mongoose";

/** A message with its sender populated (name and avatar only). */
export interface PopulatedMessage {
  _id: Types.ObjectId;
  chat: Types.ObjectId;
  sender: { _id: Types.ObjectId; name: string; avatar?: string | null } | null;
  text: string;
  seq: number;
  clientId?: string | null;
  createdAt: Date;
}

export interface MessageJson {
  _id: string;
  chat: string;
  sender: { _id: string; name: string; avatar: string };
  text: string;
  seq: number;
  clientId?: string;
  createdAt: string;
}

export function messageJson(message: PopulatedMessage): MessageJson {
  const json: MessageJson = {
    _id: String(message._id),
    chat: String(message.chat),
    // A sender whose account was deleted still leaves their messages readable.
    sender: message.sender
      ? {
          _id: String(message.sender._id),
          name: message.sender.name,
          avatar: message.sender.avatar ?? "",
        }
      : { _id: "", name: "Deleted user", avatar: "" },
    text: message.text,
    seq: message.seq,
    createdAt: message.createdAt.toISOString(),
  };
  if (message.clientId) json.clientId = message.clientId;
  return json;
}
