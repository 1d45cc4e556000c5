import { t } from "elysia";
import { ObjectIdString } from "../common/model.ts";

/** The sender's own id for a message, so a resend never makes a second one. */
export const ClientId = t.String({ minLength: 1, maxLength: 100 });

const Sender = t.Object({ _id: t.String(), name: t.String(), avatar: t.String() });

export const Message = t.Object({
  _id: t.String(),
  chat: t.String(),
  sender: Sender,
  text: t.String({ description: '"" once deleted' }),
  seq: t.Integer(),
  clientId: t.Optional(t.String()),
  replyTo: t.Union(
    [
      t.Object({
        _id: t.String(),
        seq: t.Integer(),
        text: t.String({
          description: 'The first 200 characters; "" once that message is deleted',
        }),
        sender: Sender,
      }),
      t.Null(),
    ],
    { description: "The message this one answers, as it was quoted" },
  ),
  editedAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  deleted: t.Boolean({ description: "A tombstone: it keeps its seq; its text is empty" }),
  reactions: t.Array(t.Object({ emoji: t.String(), userIds: t.Array(t.String()) }), {
    description: "In the order each emoji was first used; one reaction per user per emoji",
  }),
  version: t.Integer({
    description:
      "The chat's version of this message's latest change: it grows with every new message, " +
      "edit, deletion and reaction in the chat (not necessarily by one)",
  }),
  createdAt: t.String({ format: "date-time" }),
});

/** A page of a chat's messages, ascending `seq`; `hasMore` says whether more lie that way. */
export const MessagePage = t.Object({ messages: t.Array(Message), hasMore: t.Boolean() });

export const HistoryQuery = t.Object({
  before: t.Optional(t.Integer({ minimum: 1 })),
  after: t.Optional(t.Integer({ minimum: 0 })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

export const ChangesQuery = t.Object({
  since: t.Integer({ minimum: 0, description: "The highest version the client has seen" }),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, default: 50 })),
});

/** Trimmed, then held to 1–4000 characters by the service, which REST and WebSocket share. */
const Text = t.String({ maxLength: 10_000 });

export const SendBody = t.Object({
  text: Text,
  clientId: t.Optional(ClientId),
  replyTo: t.Optional(ObjectIdString),
});

export const EditBody = t.Object({ text: Text });

/** One emoji (or a short code such as `:+1:`): no whitespace. */
export const Emoji = t.String({
  minLength: 1,
  maxLength: 32,
  pattern: "^\\S+$",
  error: "must be 1 to 32 characters with no whitespace",
});

export const MessageIdParams = t.Object({ messageId: ObjectIdString });
export const ReactionParams = t.Object({ messageId: ObjectIdString, emoji: Emoji });
