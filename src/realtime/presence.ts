/**
 * Who is online, counted in sockets so that a user with several tabs goes offline only when the
 * last one closes.
 */
export interface Presence {
  /** Counts one more socket for the user; true when this made them online. */
  connect(userId: string): Promise<boolean>;
  /** Counts one socket fewer; true when this made them offline. */
  disconnect(userId: string): Promise<boolean>;
  /** The subset of `userIds` that is online. */
  online(userIds: string[]): Promise<string[]>;
  close(): Promise<void>;
}

export class MemoryPresence implements Presence {
  private readonly sockets = new Map<string, number>();

  async connect(userId: string): Promise<boolean> {
    const count = (this.sockets.get(userId) ?? 0) + 1;
    this.sockets.set(userId, count);
    return count === 1;
  }

  async disconnect(userId: string): Promise<boolean> {
    const count = (this.sockets.get(userId) ?? 0) - 1;
    if (count > 0) {
      this.sockets.set(userId, count);
      return false;
    }
    this.sockets.delete(userId);
    return count === 0;
  }

  async online(userIds: string[]): Promise<string[]> {
    return userIds.filter((id) => this.sockets.has(id));
  }

  async close(): Promise<void> {
    this.sockets.clear();
  }
}
