import { t } from "elysia";
import { ObjectIdString } from "../common/model.ts";
import { Message } from "../messages/model.ts";
import { PublicUser } from "../users/model.ts";

const ChatKind = t.Union([t.Literal("direct"), t.Literal("group"), t.Literal("session")], {
  description:
    '"direct": one per pair of users; "group": named, with admins; "session": an interview ' +
    "session's own chat, its members following the seat",
  error: 'must be "direct", "group" or "session"',
});

export const Chat = t.Object({
  _id: t.String(),
  kind: ChatKind,
  name: t.Union([t.String(), t.Null()], { description: "A group's name; null for the others" }),
  admins: t.Array(t.String(), { description: "A group's admins (user ids); empty for the others" }),
  sessionId: t.Union([t.String(), t.Null()], { description: "The session of a session chat" }),
  participants: t.Array(PublicUser),
  lastMessage: t.Union([Message, t.Null()]),
  lastMessageAt: t.Union([t.String({ format: "date-time" }), t.Null()]),
  lastSeq: t.Integer(),
  unreadCount: t.Integer({
    description: "Messages after the caller's read mark (sending a message moves it there)",
  }),
  version: t.Integer({ description: "The newest change's version (see the changes route)" }),
  createdAt: t.String({ format: "date-time" }),
  updatedAt: t.String({ format: "date-time" }),
});

export const ParticipantParams = t.Object({ participantId: ObjectIdString });
export const ReadBody = t.Object({ seq: t.Integer({ minimum: 0 }) });

export const ChatListQuery = t.Object({
  kind: t.Optional(ChatKind),
});

export const CreateGroupBody = t.Object({
  // Trimmed, then held to 1–80 characters by the service.
  name: t.String({ maxLength: 1000 }),
  participantIds: t.Array(ObjectIdString, {
    minItems: 1,
    maxItems: 99,
    description: "The others (1–99); the caller is added as the group's admin",
  }),
});

export const RenameBody = t.Object({ name: t.String({ maxLength: 1000 }) });
export const MemberBody = t.Object({ userId: ObjectIdString });
export const MemberParams = t.Object({ chatId: ObjectIdString, userId: ObjectIdString });
