import { CallChannel, type CallEvents } from "./call.ts";
import type { Frame } from "./transport.ts";
import type { RoomUser } from "./types.ts";

export interface RoomEvents extends CallEvents {
  /** `user-joined`: as for every call, with the newcomer's name. */
  "peer-joined": RoomUser;
  /** Everyone in the room now, after each join and leave. */
  users: RoomUser[];
  /** This client is out: it joined from another socket (`joined-elsewhere`), or the room closed. */
  left: { reason: string };
}

/**
 * A call room (the contract's "Call rooms"): `join-room` on every new socket, the member list
 * kept from `room-users`, `user-joined` and `user-left`, and the shared signaling relay.
 */
export class RoomChannel extends CallChannel<RoomEvents> {
  private list: RoomUser[] = [];

  get users(): readonly RoomUser[] {
    return this.list;
  }

  protected other({ event, data }: Frame): void {
    if (event === "room-users") this.setUsers(data.users);
    else if (event === "user-joined") {
      this.setUsers([...this.list.filter((u) => u.userId !== data.user.userId), data.user]);
      this.events.emit("peer-joined", data.user);
    } else if (event === "user-left") {
      this.setUsers(this.list.filter((u) => u.userId !== data.userId));
      this.events.emit("peer-left", { userId: data.userId });
    } else if (event === "room-left" || event === "room-closed") {
      this.stop();
      this.events.emit("left", { reason: event === "room-left" ? data.reason : "closed" });
    }
  }

  private setUsers(users: RoomUser[]): void {
    this.list = users;
    this.events.emit("users", users);
  }
}
