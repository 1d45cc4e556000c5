import { NotFoundError } from "../../errors.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Hub, RoomCallInstruction } from "../../realtime/hub.ts";
import type { Presence } from "../../realtime/presence.ts";
import { topics } from "../../realtime/topics.ts";
import type { Call } from "../calls/relay.ts";
import { type Socket, socketFeature } from "../realtime/socket-feature.ts";
import {
  RoomIdString,
  type RoomLeftData,
  type RoomUsersData,
  type UserJoinedData,
  type UserLeftData,
} from "./model.ts";
import type { RoomService } from "./service.ts";

/**
 * A room's call on `/ws`. A member's socket joins it with `join-room` and holds it until
 * `leave-room`, until it closes, or until another socket of the same user joins (one socket per
 * user per room, on every instance). `signal` and `toggle-media` go through the call relay
 * (modules/calls), with `roomCall` below.
 *
 * Who is in a call is counted in the room presence (`<roomId>:<userId>`), which spans instances
 * and forgets an instance that died; its `user-left` then comes from the sweep.
 */
export const roomEvents = {
  "join-room": RoomIdString,
  "leave-room": RoomIdString,
};

/** A socket's hold on a room's call. */
interface Hold {
  /** The join's number (RoomService.enterCall); undefined while the join is being read. */
  seq: number | undefined;
  /** The highest number another socket of the user joined with while this one was being read. */
  supersededBy: number;
  /** The user left the room, or it closed, while this join was being read. */
  gone: boolean;
}

export interface RoomSocketDeps {
  rooms: RoomService;
  hub: Hub;
  /** Who is in which room's call (Realtime.roomPresence). */
  presence: Presence;
  log: Logger;
}

const callKey = (roomId: string, userId: string) => `${roomId}:${userId}`;

export function roomSocket({ rooms, hub, presence, log }: RoomSocketDeps) {
  const holds = new Map<Socket, Map<string, Hold>>();

  /** `user-left` to the others in the room's call. A closed room has nobody to tell. */
  async function announceLeft(roomId: string, userId: string): Promise<void> {
    const members = await rooms.memberIds(roomId).catch((error: unknown) => {
      if (error instanceof NotFoundError) return [];
      throw error;
    });
    const others = members.filter((id) => id !== userId);
    hub.toRoom(roomId, others, "user-left", { roomId, userId } satisfies UserLeftData);
  }

  /**
   * The socket gives up the call. When it was the last of its user's sockets there (a takeover
   * leaves the new one), and `announce` says so, the others hear `user-left`.
   */
  async function release(socket: Socket, roomId: string, announce: boolean): Promise<void> {
    const hold = holds.get(socket)?.get(roomId);
    if (!hold) return;
    holds.get(socket)?.delete(roomId);
    if (holds.get(socket)?.size === 0) holds.delete(socket);
    if (hold.seq === undefined) return; // still joining: it never counted, and never subscribed
    socket.unsubscribe(topics.room(roomId, socket.user.id));
    const last = await presence.disconnect(callKey(roomId, socket.user.id));
    if (last && announce) await announceLeft(roomId, socket.user.id);
  }

  function releaseInBackground(socket: Socket, roomId: string, announce: boolean): void {
    release(socket, roomId, announce).catch((error: Error) =>
      log.error({ err: error }, "leaving a room's call failed"),
    );
  }

  function leftBecause(socket: Socket, roomId: string, reason: RoomLeftData["reason"]): void {
    releaseInBackground(socket, roomId, reason === "left");
    socket.send("room-left", { roomId, reason } satisfies RoomLeftData);
  }

  async function join(socket: Socket, roomId: string, ref: string | undefined): Promise<void> {
    const { user } = socket;
    const mine = holds.get(socket) ?? new Map<string, Hold>();
    holds.set(socket, mine);
    const earlier = mine.get(roomId);
    const hold: Hold = earlier ?? { seq: undefined, supersededBy: 0, gone: false };
    mine.set(roomId, hold);
    let entry: Awaited<ReturnType<RoomService["enterCall"]>>;
    try {
      entry = await rooms.enterCall(roomId, user.id);
    } catch (error) {
      if (!earlier && holds.get(socket)?.get(roomId) === hold) holds.get(socket)?.delete(roomId);
      throw error;
    }
    // What happened meanwhile: the socket closed, the user left or the room closed, or another
    // socket of theirs joined after this one.
    if (holds.get(socket)?.get(roomId) !== hold) return;
    if (hold.gone) {
      holds.get(socket)?.delete(roomId);
      throw new NotFoundError("Room not found");
    }
    if (hold.supersededBy > entry.seq) {
      holds.get(socket)?.delete(roomId);
      socket.send("room-left", { roomId, reason: "joined-elsewhere" } satisfies RoomLeftData);
      return;
    }
    const first = hold.seq === undefined;
    hold.seq = entry.seq;
    if (first) {
      socket.subscribe(topics.room(roomId, user.id));
      await presence.connect(callKey(roomId, user.id));
    }
    // Every other socket of the user that joined before this one gives the call up, everywhere.
    hub.roomCall({ roomId, reason: "joined-elsewhere", userId: user.id, seq: entry.seq });
    if (holds.get(socket)?.get(roomId) !== hold) return;
    const present = new Set(
      await presence.online(entry.members.map((m) => callKey(roomId, m.userId))),
    );
    const users = entry.members.filter((m) => present.has(callKey(roomId, m.userId)));
    socket.send("room-users", { roomId, users } satisfies RoomUsersData, ref);
    const me = entry.members.find((m) => m.userId === user.id) ?? {
      userId: user.id,
      name: user.name,
    };
    const others = entry.members.map((m) => m.userId).filter((id) => id !== user.id);
    hub.toRoom(roomId, others, "user-joined", { roomId, user: me } satisfies UserJoinedData);
  }

  function control(instruction: RoomCallInstruction): void {
    const { roomId } = instruction;
    for (const [socket, mine] of holds) {
      const hold = mine.get(roomId);
      if (!hold) continue;
      if (instruction.reason === "closed") {
        // Every member got `room-closed` on their own topic already.
        if (hold.seq === undefined) hold.gone = true;
        else releaseInBackground(socket, roomId, false);
        continue;
      }
      if (socket.user.id !== instruction.userId) continue;
      if (instruction.reason === "left") {
        if (hold.seq === undefined) hold.gone = true;
        else leftBecause(socket, roomId, "left");
      } else if (hold.seq === undefined) {
        hold.supersededBy = Math.max(hold.supersededBy, instruction.seq);
      } else if (hold.seq < instruction.seq) {
        leftBecause(socket, roomId, "joined-elsewhere");
      }
    }
  }

  // Callers on an instance that died, found by the sweep: the others hear they left.
  presence.onChange(async ({ userIds: keys, online }) => {
    if (online) return;
    for (const key of keys) {
      const [roomId, userId] = key.split(":");
      if (!roomId || !userId) continue;
      await announceLeft(roomId, userId).catch((error: Error) =>
        log.error({ err: error }, "user-left after an instance died failed"),
      );
    }
  });

  return socketFeature({
    events: roomEvents,
    async handle(socket, frame) {
      switch (frame.event) {
        case "join-room":
          await join(socket, frame.data, frame.ref);
          return;
        case "leave-room":
          await release(socket, frame.data, true);
          return;
      }
    },
    /** A socket that closes leaves every room's call it held. */
    async closed(socket) {
      for (const roomId of [...(holds.get(socket)?.keys() ?? [])]) {
        await release(socket, roomId, true);
      }
      holds.delete(socket);
    },
    control(instruction) {
      if (instruction.roomCall) control(instruction.roomCall);
    },
  });
}

/** A room as the call relay sees it: its members, and the socket of each that holds the call. */
export function roomCall(rooms: RoomService, hub: Hub): Call {
  return {
    key: "roomId",
    members: (roomId, userId) => rooms.memberIds(roomId, userId),
    deliver: (roomId, userIds, event, data) => hub.toRoom(roomId, userIds, event, data),
  };
}
