import type { UserDeletedJSON, UserJSON, WebhookEvent } from "@clerk/backend";
import type { Logger } from "../../plugins/logger.ts";
import type { Hub } from "../../realtime/hub.ts";
import { profileFromClerkUser } from "../auth/clerk.ts";
import { type StreamService, streamUserId } from "../stream/service.ts";
import { type StoredUser, toUserJson, type UsersService } from "../users/service.ts";

export interface ClerkEventsDeps {
  users: UsersService;
  stream: StreamService | null;
  hub: Hub;
  log: Logger;
}

export type ClerkEventOutcome = "synced" | "deleted" | "ignored";

/**
 * Applies Clerk's user events to our users (and Stream's). Every handler is idempotent: Clerk
 * retries deliveries and may replay them, and a replay changes nothing.
 */
export class ClerkEvents {
  constructor(private readonly deps: ClerkEventsDeps) {}

  async apply(event: WebhookEvent): Promise<ClerkEventOutcome> {
    switch (event.type) {
      case "user.created":
      case "user.updated":
        await this.upsert(event.data as UserJSON);
        return "synced";
      case "user.deleted":
        await this.remove(event.data as UserDeletedJSON);
        return "deleted";
      default:
        return "ignored";
    }
  }

  private async upsert(data: UserJSON): Promise<void> {
    const user: StoredUser = await this.deps.users.syncFromClerk(profileFromClerkUser(data));
    const json = toUserJson(user);
    await this.deps.stream?.upsertUsers([
      {
        id: streamUserId({ id: json._id, clerkId: json.clerkId }),
        name: json.name,
        image: json.avatar || undefined,
      },
    ]);
  }

  private async remove(data: UserDeletedJSON): Promise<void> {
    if (!data.id) return;
    const removed = await this.deps.users.deleteByClerkId(data.id);
    this.deps.log.info({ clerkId: data.id, removed: Boolean(removed) }, "Clerk user deleted");
    // Open sockets were authorized for an account that no longer exists.
    if (removed) this.deps.hub.disconnectUser(String(removed._id));
    // Also when nothing was stored any more: a retry after a Stream failure must still reach Stream.
    await this.deps.stream?.deleteUsers([data.id]);
  }
}
