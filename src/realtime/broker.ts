/** What a broker needs from the server that holds the sockets: Bun's topic publish. */
export interface Publisher {
  publish(topic: string, data: string): number;
}

/**
 * Fans a message out to every socket subscribed to a topic, wherever that socket lives. The hub is
 * the only caller; nothing else may assume the sockets are in this process.
 */
export interface Broker {
  /** Called once the server listens; messages published before that have no socket to reach. */
  attach(server: Publisher): void;
  publish(topic: string, message: string): void;
  /** Whether other instances hear what this one publishes (false for the local broker). */
  readonly spansInstances: boolean;
  /**
   * False while the broker cannot reach its backing service, or that service does not answer a
   * ping in time: a hung dependency counts as down (always true for the local one).
   */
  healthy(): Promise<boolean>;
  /** Whether its connections are up, as last seen (no I/O; `healthy` also asks for an answer). */
  connected(): boolean;
  /**
   * Called when fan-out works again after an outage, during which this instance's sockets may
   * have missed events published elsewhere (never, for the local broker).
   */
  onRecovered(listener: () => void): void;
  close(): Promise<void>;
}

/** One instance: Bun's own pub/sub is the whole broker. */
export class LocalBroker implements Broker {
  readonly spansInstances = false;
  private server: Publisher | undefined;

  attach(server: Publisher): void {
    this.server = server;
  }

  publish(topic: string, message: string): void {
    this.server?.publish(topic, message);
  }

  connected(): boolean {
    return true;
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  onRecovered(): void {
    // One process: nothing to miss.
  }

  async close(): Promise<void> {
    this.server = undefined;
  }
}
