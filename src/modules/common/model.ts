import { t } from "elysia";

/** A MongoDB ObjectId as the API spells it: 24 hex characters. Malformed ids fail validation (400). */
export const ObjectIdString = t.String({
  pattern: "^[0-9a-fA-F]{24}$",
  description: "An ObjectId: 24 hexadecimal characters",
});

/** `:chatId` in a path: chats and messages both address a chat this way. */
export const ChatIdParams = t.Object({ chatId: ObjectIdString });
