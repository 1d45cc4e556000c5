import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import {
  AUTHENTICATED,
  AUTHENTICATED_CHANGE,
  ChatIdParams,
  JSON_BODY,
  withErrors,
} from "../common/model.ts";
import { HistoryQuery, Message, MessagePage, SendBody } from "./model.ts";
import type { MessageService } from "./service.ts";

export function messagesModule({ auth, messages }: { auth: AuthPlugin; messages: MessageService }) {
  return new Elysia({ name: "messages", prefix: "/api/messages", detail: { tags: ["messages"] } })
    .use(auth)
    .get(
      "/chat/:chatId",
      ({ user, params, query }) =>
        messages.history(user.id, params.chatId, {
          before: query.before,
          after: query.after,
          limit: query.limit ?? 50,
        }),
      {
        auth: true,
        params: ChatIdParams,
        query: HistoryQuery,
        response: withErrors(MessagePage, [...AUTHENTICATED, 400, 404]),
        detail: {
          summary:
            "A chat's messages in ascending seq; after=<seq> catches up, before=<seq> pages back",
        },
      },
    )
    .post(
      "/chat/:chatId",
      async ({ user, params, body, set }) => {
        const { message, created } = await messages.send({
          chatId: params.chatId,
          sender: user,
          text: body.text,
          clientId: body.clientId,
        });
        set.status = created ? 201 : 200;
        return { message };
      },
      {
        auth: true,
        params: ChatIdParams,
        body: SendBody,
        response: withErrors(
          { 200: t.Object({ message: Message }), 201: t.Object({ message: Message }) },
          [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404, 409],
        ),
        detail: {
          summary: "Send a message: 201, or 200 with the earlier message when clientId was used",
        },
      },
    );
}
