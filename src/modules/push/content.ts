import type { ExpoPushMessage } from "expo-server-sdk";
import type { MessageStored } from "../messages/service.ts";

/** A notification shows this much of the message; the app opens the chat for the rest. */
export const BODY_MAX = 100;

/** What a push says about a message: the same for every device it goes to. */
export type PushContent = Omit<ExpoPushMessage, "to">;

/** Only groups have names; a direct or session chat is titled by its sender alone. */
function groupName(chat: { kind: string; name: string | null }): string | null {
  return chat.kind === "group" && chat.name ? chat.name : null;
}

/** Cut by code points, so no surrogate pair (most emoji) is halved at the edge. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join("");
}

export function pushContent({ chat, message }: MessageStored): PushContent {
  const sender = message.sender.name;
  const group = groupName(chat);
  return {
    title: group ? `${sender} in ${group}` : sender,
    body: cut(message.text, BODY_MAX),
    data: { chatId: chat.id, messageId: message._id, seq: message.seq },
    sound: "default",
  };
}
