import { t } from "elysia";
import { ObjectIdString } from "../common/model.ts";
import { SendBody } from "../messages/model.ts";

export const SessionChatParams = t.Object({ sessionId: ObjectIdString });

/** A message to a session's chat: the chat is named by its session. */
export const SaveMessageBody = t.Object({ sessionId: ObjectIdString, ...SendBody.properties });

export const ChannelBody = t.Object({ sessionId: ObjectIdString });

export const ChannelEnvelope = t.Object({
  channel: t.Object({
    type: t.String({ description: '"messaging"' }),
    id: t.String({ description: "The session's callId: the channel is messaging:<callId>" }),
  }),
});
