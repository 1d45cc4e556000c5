import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import {
  AUTHENTICATED,
  AUTHENTICATED_CHANGE,
  ChatIdParams,
  JSON_BODY,
  withErrors,
} from "../common/model.ts";
import { Chat, ChatListQuery, ParticipantParams, ReadBody } from "./model.ts";
import type { ChatService } from "./service.ts";

export function chatsModule({ auth, chats }: { auth: AuthPlugin; chats: ChatService }) {
  return new Elysia({ name: "chats", prefix: "/api/chats", detail: { tags: ["chats"] } })
    .use(auth)
    .get("", async ({ user, query }) => ({ chats: await chats.listFor(user.id, query.kind) }), {
      auth: true,
      query: ChatListQuery,
      response: withErrors(t.Object({ chats: t.Array(Chat) }), [...AUTHENTICATED, 400]),
      detail: {
        summary: "The caller's chats, most recent activity first",
        description:
          "Session chats belong to their interview (the session's `chatId`) and are listed only " +
          "with `kind=session`.",
      },
    })
    .post(
      "/with/:participantId",
      async ({ user, params, set }) => {
        const { chat, created } = await chats.openWith(user.id, params.participantId);
        set.status = created ? 201 : 200;
        return { chat };
      },
      {
        auth: true,
        params: ParticipantParams,
        response: withErrors({ 200: t.Object({ chat: Chat }), 201: t.Object({ chat: Chat }) }, [
          ...AUTHENTICATED_CHANGE,
          400,
          404,
        ]),
        detail: { summary: "Open the one chat with a user: 201 when created, 200 when it existed" },
      },
    )
    .post(
      "/:chatId/read",
      async ({ user, params, body, set }) => {
        await chats.markRead(user.id, params.chatId, body.seq);
        set.status = 204;
      },
      {
        auth: true,
        params: ChatIdParams,
        body: ReadBody,
        response: withErrors({ 204: t.Void() }, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404]),
        detail: { summary: "Move the caller's read mark forward (never back)" },
      },
    );
}
