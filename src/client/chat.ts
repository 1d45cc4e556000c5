import { Emitter } from "./emitter.ts";
import type { Rest } from "./http.ts";
import type { Outbox, OutboxEntry } from "./outbox.ts";
import type { Frame, Link } from "./transport.ts";
import {
  type ChatRead,
  ClientError,
  type Message,
  type MessageDeleted,
  type Typing,
} from "./types.ts";

export interface ChatEvents {
  /** Each message of the chat, once, in `seq` order: the app's own ones too. */
  message: Message;
  /** An edit or a reaction (`message-updated`; not sent by the server yet). */
  update: Message;
  /** A deletion (`message-deleted`; not sent by the server yet). */
  delete: MessageDeleted;
  typing: Typing;
  read: ChatRead;
  error: ClientError;
}

export interface ChatDeps {
  link: Link;
  rest: Rest;
  outbox: Outbox;
  /** Stop typing this long after the last `typing(true)`. */
  typingTimeoutMs: number;
  /** Wait this long for a missing `seq` to arrive by itself before fetching it. */
  gapWaitMs: number;
  error(error: ClientError): void;
  forget(): void;
}

/**
 * One chat, as the app sees it: its messages exactly once and in `seq` order whatever the socket
 * went through. It remembers the last `seq` delivered, joins with `after` = that on every socket,
 * drops what it has already delivered (a resend is fanned out again, and a replay can overlap the
 * live stream), holds back what arrives after a gap and fetches the gap over REST.
 */
export class ChatChannel {
  private readonly events = new Emitter<ChatEvents>();
  private readonly ahead = new Map<number, Message>();
  private repair: ReturnType<typeof setTimeout> | undefined;
  private repairing = false;
  private repairDelay = 0;
  private typingSince = 0;
  private typingStop: ReturnType<typeof setTimeout> | undefined;
  private unsentRead: number | undefined;
  private left = false;

  constructor(
    readonly chatId: string,
    /** The last `seq` delivered to the app. */
    private last: number,
    private readonly deps: ChatDeps,
  ) {}

  /** The `seq` of the last message delivered to `on("message")`. */
  get seq(): number {
    return this.last;
  }

  on<K extends keyof ChatEvents>(event: K, listener: (payload: ChatEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Resolves with the stored message once the server acknowledges it, across reconnects. */
  send(text: string, options: { replyTo?: string } = {}): Promise<Message> {
    // The server ends the sender's typing when the message is stored.
    this.endTyping();
    return this.deps.outbox.add(this.chatId, text, options.replyTo);
  }

  /** Sends not yet acknowledged (also those left by an earlier run of the app). */
  pending(): OutboxEntry[] {
    return this.deps.outbox.pending(this.chatId);
  }

  /** `typing(true)` on each keystroke is fine: it is sent now and then, and stops by itself. */
  typing(isTyping = true): void {
    clearTimeout(this.typingStop);
    if (!isTyping) {
      this.stopTyping();
      return;
    }
    const { typingTimeoutMs } = this.deps;
    const now = Date.now();
    // Repeated while it lasts, so that a receiver may let a silent typist's indicator expire.
    if (now - this.typingSince >= typingTimeoutMs / 2 && this.push("typing", true)) {
      this.typingSince = now;
    }
    this.typingStop = setTimeout(() => this.stopTyping(), typingTimeoutMs);
  }

  /** Moves the caller's read mark; sent when the socket is next open if it is not now. */
  markRead(seq: number): void {
    this.unsentRead = this.push("mark-read", seq) ? undefined : Math.max(seq, this.unsentRead ?? 0);
  }

  /** Stops following the chat; its unacknowledged sends still go out. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.stopTyping();
    clearTimeout(this.repair);
    this.deps.link.push("leave-chat", this.chatId);
    this.deps.forget();
  }

  /** On every new socket: subscribe again, and replay what came after the last delivered `seq`. */
  async join(): Promise<void> {
    const { link } = this.deps;
    const answer = await link.request("join-chat", { chatId: this.chatId, after: this.last });
    if (this.left || !answer) return;
    if (answer.event === "socket-error")
      return this.failed(new ClientError(answer.data), () => this.join());
    if (this.unsentRead !== undefined) this.markRead(this.unsentRead);
  }

  handle({ event, data }: Frame): void {
    if (this.left) return;
    if (event === "new-message") this.receive(data);
    else if (event === "message-updated") this.events.emit("update", data);
    else if (event === "message-deleted") this.events.emit("delete", data);
    else if (event === "typing") this.events.emit("typing", data);
    else if (event === "chat-read") this.events.emit("read", data);
  }

  /** Every message of this chat, from any source, comes through here. */
  receive(message: Message): void {
    const { seq } = message;
    if (this.left || seq <= this.last || this.ahead.has(seq)) return;
    if (seq > this.last + 1) {
      this.ahead.set(seq, message);
      this.repair ??= setTimeout(() => this.fillGap(), this.deps.gapWaitMs);
      return;
    }
    this.deliver(message);
    for (let next = this.ahead.get(this.last + 1); next; next = this.ahead.get(this.last + 1)) {
      this.ahead.delete(next.seq);
      this.deliver(next);
    }
    if (this.ahead.size === 0 && this.repair !== undefined) {
      clearTimeout(this.repair);
      this.repair = undefined;
    }
  }

  private deliver(message: Message): void {
    this.last = message.seq;
    this.events.emit("message", message);
  }

  /** Fetches what lies between the last delivered `seq` and what arrived ahead of it. */
  private async fillGap(): Promise<void> {
    this.repair = undefined;
    if (this.repairing || this.left) return;
    this.repairing = true;
    try {
      while (this.ahead.size > 0 && !this.left) {
        const page = await this.deps.rest.messagesAfter(this.chatId, this.last);
        for (const message of page.messages) this.receive(message);
        if (!page.hasMore || page.messages.length === 0) break;
      }
      this.repairDelay = 0;
    } catch {
      // Offline, or the server is unavailable: try again later (a new socket's replay may win).
      this.repairDelay = Math.min(30_000, Math.max(1000, this.repairDelay * 2));
      this.repair = setTimeout(() => this.fillGap(), this.repairDelay);
    } finally {
      this.repairing = false;
    }
    // Some arrived ahead of a gap the last page did not reach.
    if (this.ahead.size > 0 && this.repair === undefined && !this.left) {
      this.repair = setTimeout(() => this.fillGap(), this.deps.gapWaitMs);
    }
  }

  private failed(error: ClientError, retry: () => void): void {
    if (
      error.code === "UNAVAILABLE" ||
      error.code === "RATE_LIMITED" ||
      error.code === "INTERNAL"
    ) {
      setTimeout(
        () => this.deps.link.open && !this.left && retry(),
        (error.retryAfter ?? 1) * 1000,
      );
      return;
    }
    this.events.emit("error", error);
    this.deps.error(error);
  }

  private endTyping(): void {
    clearTimeout(this.typingStop);
    this.typingSince = 0;
  }

  private stopTyping(): void {
    if (this.typingSince) this.push("typing", false);
    this.endTyping();
  }

  private push(event: "typing" | "mark-read", value: boolean | number): boolean {
    const { chatId } = this;
    const data = event === "typing" ? { chatId, isTyping: value } : { chatId, seq: value };
    return this.deps.link.push(event, data);
  }
}
