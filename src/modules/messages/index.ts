import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import {
  AUTHENTICATED,
  AUTHENTICATED_CHANGE,
  ChatIdParams,
  JSON_BODY,
  withErrors,
} from "../common/model.ts";
import {
  EditBody,
  HistoryQuery,
  Message,
  MessageIdParams,
  MessagePage,
  ReactionParams,
  SendBody,
} from "./model.ts";
import { messageJson } from "./serialize.ts";
import type { MessageService } from "./service.ts";

const OneMessage = t.Object({ message: Message });

export function messagesModule({ auth, messages }: { auth: AuthPlugin; messages: MessageService }) {
  /** Both reaction routes: on (PUT) or off (DELETE), answered with the message as it now is. */
  const react =
    (on: boolean) =>
    async ({
      user,
      params,
    }: {
      user: { id: string };
      params: { messageId: string; emoji: string };
    }) => {
      const { message } = await messages.changes.react(user.id, params.messageId, params.emoji, on);
      return { message: messageJson(message) };
    };
  const reaction = {
    auth: true,
    params: ReactionParams,
    response: withErrors(OneMessage, [...AUTHENTICATED_CHANGE, 400, 404, 409]),
  } as const;
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
          replyTo: body.replyTo,
        });
        set.status = created ? 201 : 200;
        return { message };
      },
      {
        auth: true,
        params: ChatIdParams,
        body: SendBody,
        response: withErrors({ 200: OneMessage, 201: OneMessage }, [
          ...AUTHENTICATED_CHANGE,
          ...JSON_BODY,
          404,
          409,
        ]),
        detail: {
          summary: "Send a message: 201, or 200 with the earlier message when clientId was used",
          description: "`replyTo`: the id of a message of the same chat, which the reply quotes.",
        },
      },
    )
    .patch(
      "/:messageId",
      async ({ user, params, body }) => {
        const { message } = await messages.changes.edit(user.id, params.messageId, body.text);
        return { message: messageJson(message) };
      },
      {
        auth: true,
        params: MessageIdParams,
        body: EditBody,
        response: withErrors(OneMessage, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404, 409]),
        detail: {
          summary: "Edit a message (its sender); every member gets `message-updated`",
          description: "409 MESSAGE_DELETED for a deleted message.",
        },
      },
    )
    .delete(
      "/:messageId",
      async ({ user, params, set }) => {
        await messages.changes.remove(user.id, params.messageId);
        set.status = 204;
      },
      {
        auth: true,
        params: MessageIdParams,
        response: withErrors({ 204: t.Void() }, [...AUTHENTICATED_CHANGE, 400, 404, 409]),
        detail: {
          summary: "Delete a message (its sender, or a group admin); members get `message-deleted`",
          description:
            "The message stays in its place as a tombstone (`deleted`, empty text, its `seq`). " +
            "Deleting it again changes nothing.",
        },
      },
    )
    .put("/:messageId/reactions/:emoji", react(true), {
      ...reaction,
      detail: {
        summary:
          "React to a message (one reaction per user per emoji); members get `message-updated`",
      },
    })
    .delete("/:messageId/reactions/:emoji", react(false), {
      ...reaction,
      detail: { summary: "Take back the caller's reaction; members get `message-updated`" },
    });
}
