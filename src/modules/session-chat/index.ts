import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import { HistoryQuery, Message, MessagePage } from "../messages/model.ts";
import { ChannelBody, ChannelEnvelope, SaveMessageBody, SessionChatParams } from "./model.ts";
import type { SessionChatService } from "./service.ts";

/**
 * A session's chat by its session id (the contract's `/api/chat/…` routes). Host and participant
 * only: anyone else gets 404 `Session not found`. (`GET /api/chat/token` is the stream module's.)
 */
export function sessionChatModule({
  auth,
  sessionChat,
}: {
  auth: AuthPlugin;
  sessionChat: SessionChatService;
}) {
  return new Elysia({
    name: "session-chat",
    prefix: "/api/chat",
    detail: { tags: ["sessions"] },
  })
    .use(auth)
    .get(
      "/history/:sessionId",
      ({ user, params, query }) =>
        sessionChat.history(user.id, params.sessionId, {
          before: query.before,
          after: query.after,
          limit: query.limit ?? 50,
        }),
      {
        auth: true,
        params: SessionChatParams,
        query: HistoryQuery,
        response: withErrors(MessagePage, [...AUTHENTICATED, 400, 404]),
        detail: {
          summary: "A session chat's messages, as GET /api/messages/chat/:chatId reads any chat",
          description:
            "Ascending seq; after=<seq> catches up, before=<seq> pages back. Host and " +
            "participant only (404), also once the session is over.",
        },
      },
    )
    .post(
      "/save-message",
      async ({ user, body, set }) => {
        const { message, created } = await sessionChat.save(user, body);
        set.status = created ? 201 : 200;
        return { message };
      },
      {
        auth: true,
        body: SaveMessageBody,
        response: withErrors(
          { 200: t.Object({ message: Message }), 201: t.Object({ message: Message }) },
          [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404, 409],
        ),
        detail: {
          summary: "Send a message to a session's chat: 201, or 200 for a clientId already used",
          description:
            "Fans out like any send (new-message to both members). Host and participant only " +
            "(404); 409 CHAT_FROZEN once the session is over; 409 CLIENT_ID_REUSED.",
        },
      },
    )
    .post(
      "/channel",
      async ({ user, body }) => ({ channel: await sessionChat.channel(user.id, body.sessionId) }),
      {
        auth: true,
        body: ChannelBody,
        response: withErrors(ChannelEnvelope, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404, 502]),
        detail: {
          summary: "Ensure the session's Stream chat channel exists, with host and participant",
          description:
            "Idempotent. Host and participant only (404), while scheduled or active (400 " +
            "SESSION_COMPLETED or SESSION_CANCELLED); 503 STREAM_DISABLED without Stream; 502 " +
            "UPSTREAM when Stream fails.",
        },
      },
    );
}
