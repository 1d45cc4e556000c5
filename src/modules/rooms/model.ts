import { type Static, t } from "elysia";
import { signalFields, toggleMediaFields } from "../calls/model.ts";
import { ObjectIdString } from "../common/model.ts";
import { PublicUser } from "../users/model.ts";

/** A mesh call: every member connects to every other one, so a room stays small. */
export const ROOM_MAX_CAPACITY = 8;
export const ROOM_MIN_CAPACITY = 2;
export const ROOM_DEFAULT_CAPACITY = 4;
export const ROOM_NAME_MAX = 80;

export const RoomIdString = t.String({
  pattern: "^[0-9a-f]{16}$",
  description: "A room id: 16 lowercase hexadecimal characters",
  error: "must be 16 lowercase hexadecimal characters",
});

export const Room = t.Object(
  {
    roomId: RoomIdString,
    name: t.String(),
    host: PublicUser,
    members: t.Array(PublicUser, {
      description:
        "In the order they joined: the host first. When the host leaves, the next one is host",
    }),
    capacity: t.Integer({ minimum: ROOM_MIN_CAPACITY, maximum: ROOM_MAX_CAPACITY }),
    createdAt: t.String({ format: "date-time" }),
  },
  { title: "Room" },
);
export type RoomJson = Static<typeof Room>;

export const CreateRoomBody = t.Object({
  name: t.Optional(
    t.String({
      minLength: 1,
      maxLength: ROOM_NAME_MAX,
      description: `Trimmed; 1–${ROOM_NAME_MAX} characters. Default: "<host's name>'s room"`,
      error: `must be 1 to ${ROOM_NAME_MAX} characters once trimmed`,
    }),
  ),
  capacity: t.Optional(
    t.Integer({
      minimum: ROOM_MIN_CAPACITY,
      maximum: ROOM_MAX_CAPACITY,
      default: ROOM_DEFAULT_CAPACITY,
      description: `How many members at most, the host included (${ROOM_MIN_CAPACITY}–${ROOM_MAX_CAPACITY})`,
    }),
  ),
});
export type CreateRoomBody = Static<typeof CreateRoomBody>;

export const RoomIdBody = t.Object({ roomId: RoomIdString });
export const RoomIdParams = t.Object({ roomId: RoomIdString });
export const RoomEnvelope = t.Object({ room: Room });

/** Trims the name before the schema sees it, so "  Stand-up " is valid and "   " is not. */
export function normalizeRoomBody(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if (typeof fields.name === "string") fields.name = fields.name.trim();
}

// What a socket sends about a room (socket.ts; `signal` and `toggle-media` go through the relay).

export const RoomSignalData = t.Object({ roomId: RoomIdString, ...signalFields });
export type RoomSignalData = Static<typeof RoomSignalData>;

export const RoomToggleMediaData = t.Object({ roomId: RoomIdString, ...toggleMediaFields });
export type RoomToggleMediaData = Static<typeof RoomToggleMediaData>;

// What the server sends about a room.

/** Someone in a room's call. */
export const RoomUser = t.Object({ userId: ObjectIdString, name: t.String() });
export type RoomUser = Static<typeof RoomUser>;

/** To the socket that joined the call: everyone in it now, the joiner included. */
export const RoomUsersData = t.Object({ roomId: RoomIdString, users: t.Array(RoomUser) });
export type RoomUsersData = Static<typeof RoomUsersData>;

/** To the others in the call when someone joins it (or joins it again from another socket). */
export const UserJoinedData = t.Object({ roomId: RoomIdString, user: RoomUser });
export type UserJoinedData = Static<typeof UserJoinedData>;

/** To the others in the call when someone's socket leaves it. */
export const UserLeftData = t.Object({ roomId: RoomIdString, userId: ObjectIdString });
export type UserLeftData = Static<typeof UserLeftData>;

/** To a socket that is no longer in the call although it did not ask to leave it. */
export const RoomLeftData = t.Object({
  roomId: RoomIdString,
  reason: t.Union([t.Literal("joined-elsewhere"), t.Literal("left")], {
    description:
      "joined-elsewhere: another socket of the same user joined the call; left: the user left " +
      "the room (REST)",
  }),
});
export type RoomLeftData = Static<typeof RoomLeftData>;

/** To every member (all their sockets) when the room closes. */
export const RoomClosedData = t.Object({ roomId: RoomIdString });
export type RoomClosedData = Static<typeof RoomClosedData>;

/** To every member (all their sockets) after a join or a leave: members and host as they are now. */
export const RoomUpdatedData = t.Object({ room: Room });
export type RoomUpdatedData = Static<typeof RoomUpdatedData>;
