import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import {
  AUTHENTICATED,
  AUTHENTICATED_CHANGE,
  ChatIdParams,
  JSON_BODY,
  withErrors,
} from "../common/model.ts";
import { ChangesQuery, MessagePage } from "../messages/model.ts";
import { messageJson } from "../messages/serialize.ts";
import type { MessageService } from "../messages/service.ts";
import {
  Chat,
  ChatListQuery,
  CreateGroupBody,
  MemberBody,
  MemberParams,
  ParticipantParams,
  ReadBody,
  RenameBody,
} from "./model.ts";
import type { ChatService } from "./service.ts";

const OneChat = t.Object({ chat: Chat });

export function chatsModule({
  auth,
  chats,
  messages,
}: {
  auth: AuthPlugin;
  chats: ChatService;
  messages: MessageService;
}) {
  return new Elysia({ name: "chats", prefix: "/api/chats", detail: { tags: ["chats"] } })
    .use(auth)
    .get("", async ({ user, query }) => ({ chats: await chats.listFor(user.id, query.kind) }), {
      auth: true,
      query: ChatListQuery,
      response: withErrors(t.Object({ chats: t.Array(Chat) }), [...AUTHENTICATED, 400]),
      detail: {
        summary: "The caller's chats, most recent activity first",
        description:
          "Direct and group chats, or only the `kind` asked for. Session chats belong to their " +
          "interview (the session's `chatId`) and are listed only with `kind=session`.",
      },
    })
    .post(
      "",
      async ({ user, body, set }) => {
        set.status = 201;
        return { chat: await chats.createGroup(user.id, body.name, body.participantIds) };
      },
      {
        auth: true,
        body: CreateGroupBody,
        response: withErrors({ 201: OneChat }, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404]),
        detail: {
          summary: "Create a group of the caller (its admin) and 1–99 others",
          description: "Every member gets `chat-updated` `{ chat }`.",
        },
      },
    )
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
        response: withErrors({ 200: OneChat, 201: OneChat }, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: { summary: "Open the one chat with a user: 201 when created, 200 when it existed" },
      },
    )
    .get(
      "/:chatId",
      async ({ user, params }) => ({ chat: await chats.get(user.id, params.chatId) }),
      {
        auth: true,
        params: ChatIdParams,
        response: withErrors(OneChat, [...AUTHENTICATED, 400, 404]),
        detail: { summary: "One of the caller's chats" },
      },
    )
    .patch(
      "/:chatId",
      async ({ user, params, body }) => ({
        chat: await chats.rename(user.id, params.chatId, body.name),
      }),
      {
        auth: true,
        params: ChatIdParams,
        body: RenameBody,
        response: withErrors(OneChat, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404]),
        detail: { summary: "Rename a group (its admins); members get `chat-updated`" },
      },
    )
    .post(
      "/:chatId/members",
      async ({ user, params, body }) => ({
        chat: await chats.addMember(user.id, params.chatId, body.userId),
      }),
      {
        auth: true,
        params: ChatIdParams,
        body: MemberBody,
        response: withErrors(OneChat, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404, 409]),
        detail: {
          summary: "Add a member to a group (its admins); 409 GROUP_FULL past 100 members",
          description:
            "The newcomer sees the whole history. Every member, the newcomer included, gets " +
            "`chat-updated`. Adding a member twice changes nothing.",
        },
      },
    )
    .delete(
      "/:chatId/members/:userId",
      async ({ user, params, set }) => {
        await chats.removeMember(user.id, params.chatId, params.userId);
        set.status = 204;
      },
      {
        auth: true,
        params: MemberParams,
        response: withErrors({ 204: t.Void() }, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "Remove a member from a group (an admin), or leave it (yourself)",
          description:
            "The removed member's sockets stop receiving the chat at once, on every instance; " +
            "they and the remaining members get `chat-updated`. A group left without admins " +
            "gets its longest-standing member as one.",
        },
      },
    )
    .get(
      "/:chatId/changes",
      async ({ user, params, query }) => {
        const page = await messages.changes.since(user.id, params.chatId, {
          since: query.since,
          limit: query.limit ?? 50,
        });
        return { messages: page.messages.map(messageJson), hasMore: page.hasMore };
      },
      {
        auth: true,
        params: ChatIdParams,
        query: ChangesQuery,
        response: withErrors(MessagePage, [...AUTHENTICATED, 400, 404]),
        detail: {
          summary: "Every message changed after a version, once, in its latest state",
          description:
            "Ascending `version`: new messages, edits, deletions (tombstones) and reactions. " +
            "Page on with `since` = the last message's version while `hasMore`.",
        },
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
