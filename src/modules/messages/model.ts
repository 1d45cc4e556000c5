import { t } from "elysia";
import { ObjectIdString } from "../common/model.ts";

export const MessageText = t.String({
  minLength: 1,
  maxLength: 4000,
  error: "text must be 1 to 4000 characters once trimmed",
});
/** The sender's own id for a message, so a resend never makes a second one. */
export const ClientId = t.String({ minLength: 1, maxLength: 100 });

export const Message = t.Object({
  _id: t.String(),
  chat: t.String(),
  sender: t.Object({ _id: t.String(), name: t.String(), avatar: t.String() }),
  text: t.String(),
  seq: t.Integer(),
  clientId: t.Optional(t.String()),
  createdAt: t.String({ format: "date-time" }),
});

export const ChatIdParams = t.Object({ chatId: ObjectIdString });

export const HistoryQuery = t.Object({
  before: t.Optional(t.Integer({ minimum: 1 })),
  after: t.Optional(t.Integer({ minimum: 0 })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

export const SendBody = t.Object({
  text: t.String(),
  clientId: t.Optional(ClientId),
});
