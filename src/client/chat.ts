import type { ChangeAccepted, Changes } from "./changes.ts";
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
  /**
   * A message already delivered was edited, or a reaction added or taken back: the message in its
   * latest state, once per change the app has not had (a change made while away arrives on
   * resume; several of them to one message, as its latest state once).
   */
  update: Message;
  /** A message already delivered was deleted: it stays a tombstone (same `seq`, `text: ""`). */
  delete: MessageDeleted;
  typing: Typing;
  read: ChatRead;
  error: ClientError;
}

export interface ChatDeps {
  link: Link;
  rest: Rest;
  outbox: Outbox;
  changes: Changes;
  /** Stop typing this long after the last `typing(true)`. */
  typingTimeoutMs: number;
  /** Wait this long for a missing `seq` to arrive by itself before fetching it. */
  gapWaitMs: number;
  error(error: ClientError): void;
  forget(): void;
  /** The chat's version now (`GET /api/chats/:chatId`), for an app that gave `after` alone. */
  version(): Promise<number>;
}

/** Messages whose last delivered version a channel remembers, to drop a change it already had. */
const REMEMBERED = 5000;

/**
 * One chat, as the app sees it: its messages exactly once and in `seq` order whatever the socket
 * went through. It remembers the last `seq` delivered, joins with `after` = that on every socket,
 * drops what it has already delivered (a resend is fanned out again, and a replay can overlap the
 * live stream), holds back what arrives after a gap and fetches the gap over REST.
 *
 * Changes (edits, reactions, deletions) are resumed by version: the channel joins with `since` =
 * the highest version it has seen, and delivers a change only if it is newer than the last version
 * delivered for that message. A change to a message not delivered yet is folded into it: the
 * message reaches `on("message")` once, in `seq` order, in its latest state (a deleted one as a
 * tombstone), with no `update` or `delete` of its own, as a replay of it would have sent it.
 */
export class ChatChannel {
  private readonly events = new Emitter<ChatEvents>();
  private readonly ahead = new Map<number, Message>();
  /** Deletions of messages not delivered yet, by `seq`: applied when the message comes. */
  private readonly gone = new Map<number, MessageDeleted>();
  /** The version last delivered of each of the last REMEMBERED messages, by id. */
  private readonly versions = new Map<string, number>();
  /** The highest version seen, -1 for none. */
  private top = -1;
  /**
   * The version the next join asks changes after. Versions seen during a join's replay count only
   * once it is over: one cut short may have sent new messages (with their latest, high versions)
   * before the older changes it had still to send.
   */
  private replaying = true;
  private joins = 0;
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
    /** Undefined until known when the app gave `after` alone. */
    private since: number | undefined,
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

  /**
   * Edits the caller's own message. Like `delete` and `react`: sent over the socket (waiting for
   * one while it is down), resolved with the version the change took, rejected with the server's
   * ClientError (FORBIDDEN, NOT_FOUND, MESSAGE_DELETED, VALIDATION, CHAT_FROZEN, …) or TIMEOUT.
   */
  edit(messageId: string, text: string): Promise<ChangeAccepted> {
    return this.deps.changes.request("edit-message", { messageId, text });
  }

  /** Deletes a message: the caller's own, or any in a group the caller is an admin of. */
  delete(messageId: string): Promise<ChangeAccepted> {
    return this.deps.changes.request("delete-message", { messageId });
  }

  /** Adds the caller's reaction with `emoji`, or takes it back (`on` false). */
  react(messageId: string, emoji: string, on = true): Promise<ChangeAccepted> {
    return this.deps.changes.request("react", { messageId, emoji, on });
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

  /**
   * On every new socket: subscribe again, and replay the messages after the last delivered `seq`
   * and the changes after `since`. A ping right behind the join answers once the replay is over
   * (the server handles a socket's frames in order).
   */
  async join(): Promise<void> {
    const { link } = this.deps;
    const { chatId, last, since } = this;
    const join = ++this.joins;
    let broken = false;
    this.replaying = true;
    const joined = link.request(
      "join-chat",
      // With nothing delivered yet, every message comes in its latest state: no changes to ask.
      last && since !== undefined ? { chatId, after: last, since } : { chatId, after: last },
      (late) => {
        broken = true;
        this.failed(new ClientError(late.data), () => this.join());
      },
    );
    const replayed = link.request("ping", null);
    const answer = await joined;
    if (this.left || !answer) return;
    if (answer.event === "socket-error")
      return this.failed(new ClientError(answer.data), () => this.join());
    if (this.unsentRead !== undefined) this.markRead(this.unsentRead);
    if (!(await replayed) || broken) return;
    // The app gave `after` alone: the chat as it is now is what it has.
    const now = this.since ?? (await this.deps.version().catch(() => undefined));
    if (now === undefined || join !== this.joins) return;
    this.replaying = false;
    this.since = Math.max(now, this.top);
  }

  handle({ event, data }: Frame): void {
    if (this.left) return;
    if (event === "new-message") this.receive(data);
    else if (event === "message-updated") this.receive(data, true);
    else if (event === "message-deleted") this.deleted(data);
    else if (event === "typing") this.events.emit("typing", data);
    else if (event === "chat-read") this.events.emit("read", data);
  }

  /**
   * Every message of this chat, from any source, comes through here. `updated`: from
   * `message-updated`. A message already delivered may come again newer: an update (or a
   * deletion) if it is newer than what was delivered of it; a `new-message` of one the channel
   * does not remember is a resend's echo or an overlapping replay, and dropped.
   */
  receive(message: Message, updated = false): void {
    const { seq, version, _id } = message;
    if (this.left) return;
    this.saw(version);
    if (seq <= this.last) {
      if (updated || this.versions.has(_id)) {
        this.changed(_id, version, () =>
          message.deleted
            ? this.events.emit("delete", { chatId: this.chatId, messageId: _id, seq, version })
            : this.events.emit("update", message),
        );
      }
      return;
    }
    const held = this.ahead.get(seq);
    if (held) {
      if (version > held.version) this.ahead.set(seq, message);
      return;
    }
    if (seq > this.last + 1) {
      this.hold(seq, message);
      return;
    }
    this.deliver(message);
    for (let next = this.ahead.get(this.last + 1); next; next = this.ahead.get(this.last + 1)) {
      this.ahead.delete(next.seq);
      this.deliver(next);
    }
    if (this.ahead.size + this.gone.size === 0 && this.repair !== undefined) {
      clearTimeout(this.repair);
      this.repair = undefined;
    }
  }

  private deleted(deletion: MessageDeleted): void {
    const { seq, version, messageId } = deletion;
    this.saw(version);
    const held = this.ahead.get(seq);
    if (seq <= this.last) {
      this.changed(messageId, version, () => this.events.emit("delete", deletion));
    } else if (held) {
      if (version > held.version) this.ahead.set(seq, tombstone(held, deletion));
    } else if (version > (this.gone.get(seq)?.version ?? -1)) this.hold(seq, deletion);
  }

  /** Waits for what comes before it, and fetches that if it does not come by itself. */
  private hold(seq: number, what: Message | MessageDeleted): void {
    if ("_id" in what) this.ahead.set(seq, what);
    else this.gone.set(seq, what);
    this.repair ??= setTimeout(() => this.fillGap(), this.deps.gapWaitMs);
  }

  private deliver(message: Message): void {
    const { seq } = message;
    const deletion = this.gone.get(seq);
    this.gone.delete(seq);
    const latest =
      deletion && deletion.version > message.version ? tombstone(message, deletion) : message;
    this.last = seq;
    this.remember(message._id, latest.version);
    this.events.emit("message", latest);
  }

  /** A change to a delivered message reaches the app once: newer than the last one it had. */
  private changed(messageId: string, version: number, emit: () => void): void {
    if (version <= (this.versions.get(messageId) ?? -1)) return;
    this.remember(messageId, version);
    emit();
  }

  private remember(messageId: string, version: number): void {
    const { versions } = this;
    versions.delete(messageId);
    versions.set(messageId, version);
    if (versions.size > REMEMBERED) versions.delete(versions.keys().next().value!);
  }

  private saw(version: number): void {
    this.top = Math.max(this.top, version);
    if (!this.replaying) this.since = Math.max(this.since ?? 0, this.top);
  }

  /** Fetches what lies between the last delivered `seq` and what arrived ahead of it. */
  private async fillGap(): Promise<void> {
    this.repair = undefined;
    if (this.repairing || this.left) return;
    this.repairing = true;
    try {
      while (this.ahead.size + this.gone.size > 0 && !this.left) {
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
    if (this.ahead.size + this.gone.size > 0 && this.repair === undefined && !this.left) {
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

/** A message as its deletion left it (what the server stores). */
function tombstone(message: Message, { version }: MessageDeleted): Message {
  return { ...message, text: "", deleted: true, reactions: [], replyTo: null, version };
}
