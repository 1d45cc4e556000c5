import { t } from "elysia";
import { ObjectIdString } from "../common/model.ts";
import { Message } from "../messages/model.ts";
import { PublicUser } from "../users/model.ts";

export const Chat = t.Object({
  _id: t.String(),
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
