import { t } from "elysia";

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

/** A page of a chat's messages, ascending `seq`; `hasMore` says whether more lie that way. */
export const MessagePage = t.Object({ messages: t.Array(Message), hasMore: t.Boolean() });

export const HistoryQuery = t.Object({
  before: t.Optional(t.Integer({ minimum: 1 })),
  after: t.Optional(t.Integer({ minimum: 0 })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

export const SendBody = t.Object({
  // Trimmed, then held to 1–4000 characters by the service, which REST and WebSocket share.
  text: t.String({ maxLength: 10_000 }),
  clientId: t.Optional(ClientId),
});
