import type { Types } from "mongoose";
import type { MessageDoc } from "../../db/models/message.ts";

/** A message with its sender populated (name and avatar only); null once the account is gone. */
export type PopulatedMessage = Omit<MessageDoc, "sender" | "clientId" | "updatedAt"> & {
  sender: { _id: Types.ObjectId; name: string; avatar?: string | null } | null;
  clientId?: string | null;
};

export interface UserSummary {
  _id: string;
  name: string;
  avatar: string;
}

export interface MessageJson {
  _id: string;
  chat: string;
  sender: UserSummary;
  text: string;
  seq: number;
  clientId?: string;
  replyTo: { _id: string; seq: number; text: string; sender: UserSummary } | null;
  editedAt: string | null;
  deleted: boolean;
  reactions: { emoji: string; userIds: string[] }[];
  version: number;
  createdAt: string;
}

/** `message-deleted`: what is left to say of a deleted message. */
export interface MessageDeletedJson {
  chatId: string;
  messageId: string;
  seq: number;
  version: number;
}

export function messageJson(message: PopulatedMessage): MessageJson {
  const quote = message.replyTo;
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
    replyTo: quote
      ? {
          _id: String(quote._id),
          seq: quote.seq,
          text: quote.text,
          sender: {
            _id: String(quote.sender._id),
            name: quote.sender.name,
            avatar: quote.sender.avatar ?? "",
          },
        }
      : null,
    editedAt: message.editedAt ? message.editedAt.toISOString() : null,
    deleted: message.deleted === true,
    reactions: (message.reactions ?? []).map(({ emoji, userIds }) => ({
      emoji,
      userIds: userIds.map(String),
    })),
    version: message.version ?? 0,
    createdAt: message.createdAt.toISOString(),
  };
  if (message.clientId) json.clientId = message.clientId;
  return json;
}

export function messageDeletedJson(message: PopulatedMessage): MessageDeletedJson {
  return {
    chatId: String(message.chat),
    messageId: String(message._id),
    seq: message.seq,
    version: message.version ?? 0,
  };
}
