import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import {
  CreateRoomBody,
  normalizeRoomBody,
  RoomEnvelope,
  RoomIdBody,
  RoomIdParams,
} from "./model.ts";
import type { RoomService } from "./service.ts";

export interface RoomsModuleDeps {
  auth: AuthPlugin;
  rooms: RoomService;
}

/** Call rooms, at the addresses the WebRTC call design gave them. */
export function roomsModule({ auth, rooms }: RoomsModuleDeps) {
  return new Elysia({ name: "rooms", prefix: "/api/call", detail: { tags: ["rooms"] } })
    .use(auth)
    .post(
      "/create-room",
      async ({ user, body, status }) => status(201, { room: await rooms.create(user, body) }),
      {
        auth: true,
        transform: ({ body }) => normalizeRoomBody(body),
        body: CreateRoomBody,
        response: withErrors({ 201: RoomEnvelope }, [...AUTHENTICATED_CHANGE, ...JSON_BODY]),
        detail: { summary: "Open a room, the caller its host and first member" },
      },
    )
    .post(
      "/join-room",
      async ({ user, body }) => ({ room: await rooms.join(user.id, body.roomId) }),
      {
        auth: true,
        body: RoomIdBody,
        response: withErrors(RoomEnvelope, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404, 409]),
        detail: {
          summary: "Become a member of a room",
          description:
            "404 unknown (or closed); 409 ROOM_FULL. Of several joins at once only as many win " +
            "as there are places; joining again is a 200.",
        },
      },
    )
    .get("/room/:roomId", async ({ params }) => ({ room: await rooms.get(params.roomId) }), {
      auth: true,
      params: RoomIdParams,
      response: withErrors(RoomEnvelope, [...AUTHENTICATED, 400, 404]),
      detail: { summary: "A room, for any signed-in user who has its id; 404 unknown or closed" },
    })
    .post(
      "/leave-room",
      async ({ user, body }) => ({ room: await rooms.leave(user.id, body.roomId) }),
      {
        auth: true,
        body: RoomIdBody,
        response: withErrors(RoomEnvelope, [...AUTHENTICATED_CHANGE, ...JSON_BODY, 404]),
        detail: {
          summary: "Give up one's place in a room",
          description:
            "The host leaving hands the room to the longest-present member. The last one out " +
            "closes it (deleted; `room-closed`), and gets the room back once with no members. " +
            "Leaving a room one is not in is a 200 with the room as it is.",
        },
      },
    )
    .delete(
      "/room/:roomId",
      async ({ user, params, set }) => {
        await rooms.close(user.id, params.roomId);
        set.status = 204;
      },
      {
        auth: true,
        params: RoomIdParams,
        response: withErrors({ 204: t.Void() }, [...AUTHENTICATED_CHANGE, 400, 404]),
        detail: {
          summary: "Close a room for everyone (host only)",
          description: "Deletes it; every member gets `room-closed`. 403 for anyone but the host.",
        },
      },
    );
}
