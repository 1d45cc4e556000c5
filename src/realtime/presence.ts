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
  /**
   * Changes this instance's own connect/disconnect calls did not report: users of another instance
   * that died, or corrections once a lost store is back. Whoever listens announces them.
   */
  onChange(listener: (change: PresenceChange) => void | Promise<void>): void;
  close(): Promise<void>;
}

export interface PresenceChange {
  userIds: string[];
  online: boolean;
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

  /** One instance sees every change through connect and disconnect: nothing else to report. */
  onChange(): void {}

  async close(): Promise<void> {
    this.sockets.clear();
  }
}
