import type { Models } from "../../db/models/index.ts";
import type { RoomDoc } from "../../db/models/room.ts";
import { ConflictError, ForbiddenError, NotFoundError } from "../../errors.ts";
import type { Hub } from "../../realtime/hub.ts";
import { goneUser, type StoredUser, toUserJson } from "../users/service.ts";
import {
  type CreateRoomBody,
  ROOM_DEFAULT_CAPACITY,
  ROOM_MAX_CAPACITY,
  ROOM_MIN_CAPACITY,
  ROOM_NAME_MAX,
  type RoomClosedData,
  type RoomJson,
  type RoomUpdatedData,
  type RoomUser,
} from "./model.ts";

/** Who creates a room: enough of the caller to name it after them. */
export interface RoomCreator {
  id: string;
  name: string;
}

export interface RoomServiceDeps {
  models: Models;
  hub: Hub;
}

/** What joining a room's call needs from the store: the join's order, and who is a member now. */
export interface CallEntry {
  /** This join's number among the room's joins (see RoomDoc.callJoins). */
  seq: number;
  members: RoomUser[];
}

const notFound = () => new NotFoundError("Room not found");
const full = () => new ConflictError("This room is full", "ROOM_FULL");

type PopulatedRoom = Omit<RoomDoc, "members"> & { members: (StoredUser | null)[] };

/**
 * Matches a room that has a free place: for each possible capacity, "no member at the last index".
 * Capacity is stored per room, so the condition names each case; a plain query, no `$expr`.
 */
const HAS_ROOM = {
  $or: Array.from({ length: ROOM_MAX_CAPACITY - ROOM_MIN_CAPACITY + 1 }, (_, i) => ({
    capacity: ROOM_MIN_CAPACITY + i,
    [`members.${ROOM_MIN_CAPACITY + i - 1}`]: { $exists: false },
  })),
};

/** A room nobody has left for good: with no member it is closed (and about to be deleted). */
const OPEN = { "members.0": { $exists: true } };

function toRoomJson(room: PopulatedRoom): RoomJson {
  const members = room.members.map((user) => (user ? toUserJson(user) : goneUser()));
  return {
    roomId: room.roomId,
    name: room.name,
    host: members[0] ?? goneUser(),
    members,
    capacity: room.capacity,
    createdAt: room.createdAt.toISOString(),
  };
}

function newRoomId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
}

function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 11000;
}

/**
 * Call rooms: ad-hoc calls of up to 8 members (a mesh). Every change is one conditional update on
 * the room, so concurrent joins cannot overfill it and concurrent leaves cannot lose a hand-over.
 * Members are kept in the order they joined and the first is the host, so the host leaving hands
 * the room to the longest-present member as part of that same update. The last one out closes the
 * room: it is deleted.
 *
 * Who is in the room's *call* (sockets that sent `join-room`) is the socket side's business
 * (socket.ts); this service tells it, through the hub, when members leave and rooms close.
 */
export class RoomService {
  constructor(private readonly deps: RoomServiceDeps) {}

  async create(host: RoomCreator, input: CreateRoomBody): Promise<RoomJson> {
    const name = input.name?.trim() || `${host.name}'s room`.slice(0, ROOM_NAME_MAX);
    for (let attempt = 0; ; attempt++) {
      const roomId = newRoomId();
      try {
        await this.deps.models.Room.create({
          roomId,
          name,
          members: [host.id],
          capacity: input.capacity ?? ROOM_DEFAULT_CAPACITY,
        });
        return this.read(roomId);
      } catch (error) {
        // 2^64 ids: a clash is as good as impossible, and harmless: draw again.
        if (!isDuplicateKey(error) || attempt >= 2) throw error;
      }
    }
  }

  /** Any signed-in user who has the id may read the room. */
  async get(roomId: string): Promise<RoomJson> {
    return this.read(roomId);
  }

  /**
   * The caller takes a free place: one conditional update, so of any number of joins at once only
   * as many win as there are places. Joining again as a member is a harmless repeat.
   */
  async join(userId: string, roomId: string): Promise<RoomJson> {
    const joined = await this.deps.models.Room.findOneAndUpdate(
      { roomId, members: { $ne: userId }, ...OPEN, ...HAS_ROOM },
      { $push: { members: userId } },
      { projection: { _id: 1 } },
    ).lean();
    if (!joined) {
      const current = await this.raw(roomId);
      if (!current) throw notFound();
      if (!current.members.some((id) => String(id) === userId)) throw full();
      return this.read(roomId);
    }
    const room = await this.read(roomId);
    this.announce(room);
    return room;
  }

  /**
   * The caller gives up their place; the host's goes to the longest-present member. The last one
   * out closes the room: it is deleted, and the answer is the room as it was left, with no members.
   * Leaving a room one is not in is a harmless repeat.
   */
  async leave(userId: string, roomId: string): Promise<RoomJson> {
    const { models, hub } = this.deps;
    const before = await models.Room.findOneAndUpdate(
      { roomId, members: userId },
      { $pull: { members: userId } },
      { returnDocument: "before", projection: { members: 1, name: 1, capacity: 1, createdAt: 1 } },
    ).lean();
    if (!before) return this.read(roomId);
    if (before.members.length > 1) {
      hub.roomCall({ roomId, reason: "left", userId });
      const room = await this.read(roomId).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      });
      if (room) {
        this.announce(room, [userId]);
        return room;
      }
      // The others left meanwhile, and the last of them closed it.
    } else {
      // Nobody can join an empty room (OPEN), so this deletes exactly what was just emptied.
      await models.Room.deleteOne({ roomId, members: { $size: 0 } });
      this.closed(roomId, [userId]);
    }
    const leaver = await models.User.findById(userId).lean<StoredUser>();
    return {
      roomId,
      name: before.name,
      host: leaver ? toUserJson(leaver) : goneUser(),
      members: [],
      capacity: before.capacity,
      createdAt: before.createdAt.toISOString(),
    };
  }

  /** Host only: closes the room for everyone, whoever is in its call. */
  async close(userId: string, roomId: string): Promise<void> {
    const deleted = await this.deps.models.Room.findOneAndDelete(
      { roomId, "members.0": userId },
      { projection: { members: 1 } },
    ).lean();
    if (!deleted) {
      if (!(await this.raw(roomId))) throw notFound();
      throw new ForbiddenError("Only the host can close this room");
    }
    this.closed(
      roomId,
      deleted.members.map((id) => String(id)),
    );
  }

  // The socket side.

  /**
   * A member's socket joins the room's call: numbers this join (one conditional update, which is
   * also the membership check) and names the members. Anyone else gets NOT_FOUND.
   */
  async enterCall(roomId: string, userId: string): Promise<CallEntry> {
    const room = await this.deps.models.Room.findOneAndUpdate(
      { roomId, members: userId },
      { $inc: { callJoins: 1 } },
      { returnDocument: "after", projection: { callJoins: 1, members: 1 } },
    )
      .populate<{ members: (StoredUser | null)[] }>("members", "name")
      .lean();
    if (!room) throw notFound();
    return { seq: room.callJoins, members: toRoomUsers(room.members) };
  }

  /** The members' ids, read now; NOT_FOUND unless `userId` is one of them (when given). */
  async memberIds(roomId: string, userId?: string): Promise<string[]> {
    const filter = userId === undefined ? { roomId, ...OPEN } : { roomId, members: userId };
    const room = await this.deps.models.Room.findOne(filter, { members: 1 }).lean();
    if (!room) throw notFound();
    return room.members.map((id) => String(id));
  }

  // Helpers.

  /** `room-updated` to every member (all their sockets), plus anyone in `also`. */
  private announce(room: RoomJson, also: string[] = []): void {
    const ids = [...room.members.map((m) => m._id), ...also].filter(Boolean);
    this.deps.hub.toUsers(ids, "room-updated", { room } satisfies RoomUpdatedData);
  }

  /** `room-closed` to these users, and every socket in the room's call gives it up. */
  private closed(roomId: string, userIds: string[]): void {
    const { hub } = this.deps;
    hub.toUsers(userIds, "room-closed", { roomId } satisfies RoomClosedData);
    hub.roomCall({ roomId, reason: "closed" });
  }

  private async raw(roomId: string) {
    return this.deps.models.Room.findOne({ roomId, ...OPEN }, { members: 1 }).lean();
  }

  private async read(roomId: string): Promise<RoomJson> {
    const room = await this.deps.models.Room.findOne({ roomId, ...OPEN })
      .populate<{ members: (StoredUser | null)[] }>("members")
      .lean();
    if (!room) throw notFound();
    return toRoomJson(room as unknown as PopulatedRoom);
  }
}

function toRoomUsers(members: (StoredUser | null)[]): RoomUser[] {
  return members
    .filter((user): user is StoredUser => user !== null)
    .map((user) => ({ userId: String(user._id), name: user.name }));
}
