/** A frame on /ws, either way: `{ event, data, ref? }`. */
export interface Frame {
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: frames are JSON; each handler reads its own event
  data: any;
  ref?: string;
}

/** What chats, sessions and rooms see of the socket. */
export interface Link {
  readonly open: boolean;
  /** Sends a frame if the socket is open; false when it is not (nothing is queued). */
  push(event: string, data: unknown): boolean;
  /**
   * Sends a frame with a fresh `ref` and resolves with the server's answer to it (an
   * acknowledgement, or `socket-error`), or with undefined if the socket closes first. `late`
   * gets a second frame with that ref (a join's replay that failed after `chat-joined`).
   */
  request(event: string, data: unknown, late?: (frame: Frame) => void): Promise<Frame | undefined>;
}

export interface TransportHandlers {
  open(): void;
  /** `opened`: whether this socket ever opened (a refused upgrade closes without opening). */
  close(code: number, reason: string, opened: boolean): void;
  frame(frame: Frame): void;
}

/** The local close code for a socket found dead by the heartbeat. */
export const HEARTBEAT_TIMEOUT = 4000;

/**
 * One WebSocket at a time: frames in and out, refs and their answers, and a heartbeat. A `ping`
 * goes out every interval; a socket from which nothing at all arrived during a whole interval
 * (not even the previous ping's `pong`) is dead, which finds a silent socket within two.
 * Reconnecting is not its business: it reports the close and the client decides.
 */
export class Transport implements Link {
  private socket: WebSocket | undefined;
  private opened = false;
  private refs = 0;
  private readonly answers = new Map<string, (frame: Frame | undefined) => void>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private heard = false;

  constructor(
    private readonly heartbeatMs: number,
    private readonly on: TransportHandlers,
  ) {}

  get open(): boolean {
    return this.opened;
  }

  connect(url: string): void {
    this.disconnect();
    const socket = new WebSocket(url);
    this.socket = socket;
    // An upgrade that never answers counts as a failed one.
    this.timer = setTimeout(
      () => this.drop(HEARTBEAT_TIMEOUT, "Connect timeout"),
      this.heartbeatMs * 2,
    );
    socket.onopen = () => {
      clearTimeout(this.timer);
      this.opened = this.heard = true;
      this.timer = setInterval(() => this.beat(), this.heartbeatMs);
      this.on.open();
    };
    socket.onmessage = ({ data }) => {
      this.heard = true;
      let frame: Frame;
      try {
        frame = JSON.parse(String(data));
      } catch {
        return;
      }
      if (typeof frame !== "object" || frame === null) return;
      const ref = frame.event === "socket-error" ? frame.data?.ref : frame.ref;
      const answer = typeof ref === "string" ? this.answers.get(ref) : undefined;
      if (answer) {
        this.answers.delete(ref);
        answer(frame);
      } else {
        this.on.frame(frame);
      }
    };
    socket.onclose = ({ code, reason }) => this.drop(code, reason);
  }

  /** Closes the socket, if any, without reporting it: the client asked for this. */
  disconnect(code = 1000, reason = ""): void {
    const socket = this.detach();
    try {
      socket?.close(code, reason);
    } catch {
      // Already closing.
    }
  }

  push(event: string, data: unknown, ref?: string): boolean {
    if (!this.opened || !this.socket) return false;
    this.socket.send(JSON.stringify(ref === undefined ? { event, data } : { event, data, ref }));
    return true;
  }

  request(event: string, data: unknown, late?: (frame: Frame) => void): Promise<Frame | undefined> {
    const ref = String(++this.refs);
    if (!this.push(event, data, ref)) return Promise.resolve(undefined);
    return new Promise((resolve) =>
      this.answers.set(ref, (frame) => {
        resolve(frame);
        // Kept until the socket goes: one entry per join on it.
        if (frame && late) this.answers.set(ref, (again) => again && late(again));
      }),
    );
  }

  private beat(): void {
    if (!this.heard) {
      this.drop(HEARTBEAT_TIMEOUT, "Heartbeat timeout");
      return;
    }
    this.heard = false;
    this.push("ping", null);
  }

  /**
   * The socket is gone, by its own close or because it is dead: a dead one may take minutes to
   * report its close, so it is let go of and reported now.
   */
  private drop(code: number, reason: string): void {
    const opened = this.opened;
    const socket = this.detach();
    if (!socket) return;
    if (socket.readyState < 2) {
      try {
        socket.close(code === HEARTBEAT_TIMEOUT ? 4000 : 1000);
      } catch {
        // It was closing anyway.
      }
    }
    this.on.close(code, reason, opened);
  }

  private detach(): WebSocket | undefined {
    const socket = this.socket;
    clearTimeout(this.timer);
    clearInterval(this.timer);
    this.socket = undefined;
    this.opened = false;
    if (socket) socket.onopen = socket.onmessage = socket.onclose = null;
    for (const answer of this.answers.values()) answer(undefined);
    this.answers.clear();
    return socket;
  }
}
