import { t } from "elysia";
import { ObjectIdString } from "../common/model.ts";
import { Message } from "../messages/model.ts";
import { PublicUser } from "../users/model.ts";

export const Chat = t.Object({
  _id: t.String(),
  kind: t.Union([t.Literal("direct"), t.Literal("session")], {
    description: '"session": an interview session\'s own chat, its members following the seat',
  }),
  sessionId: t.Union([t.String(), t.Null()], { description: "The session of a session chat" }),
  participants: t.Array(PublicUser),
  lastMessage: t.Union([Message, t.Null()]),
  lastMessageAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  lastSeq: t.Integer(),
  unreadCount: t.Integer(),
  createdAt: t.String({ format: "date-time" }),
  updatedAt: t.String({ format: "date-time" }),
});

export const ParticipantParams = t.Object({ participantId: ObjectIdString });
export const ReadBody = t.Object({ seq: t.Integer({ minimum: 0 }) });

export const ChatListQuery = t.Object({
  kind: t.Optional(
    t.Union([t.Literal("direct"), t.Literal("session")], {
      default: "direct",
      description: '"direct" (the default): the chat list; "session": the chats of your sessions',
      error: 'must be "direct" or "session"',
    }),
  ),
});
