import type { Link } from "./transport.ts";
import { ClientError, type Message, type Storage } from "./types.ts";

/** A message the app sent that the server has not acknowledged yet. */
export interface OutboxEntry {
  clientId: string;
  chatId: string;
  text: string;
  replyTo?: string;
  createdAt: string;
}

/** Answers after which the same send is tried again later; any other error is final. */
const RETRY = new Set(["UNAVAILABLE", "RATE_LIMITED", "INTERNAL"]);

/**
 * Sends that must arrive exactly once: each is written to `storage` before it goes out, sent with
 * its `clientId`, sent again with the same `clientId` on every new socket until `message-sent`
 * comes back, and only then forgotten. The server stores a `clientId` once, so a resend of a send
 * that did arrive (its acknowledgement lost with its socket) is harmless.
 */
export class Outbox {
  private entries: OutboxEntry[] = [];
  private readonly waiting = new Map<
    string,
    { resolve(message: Message): void; reject(error: ClientError): void }
  >();
  private readonly inFlight = new Set<string>();
  private readonly retries = new Set<ReturnType<typeof setTimeout>>();
  private saving: Promise<unknown> = Promise.resolve();
  private readonly loaded: Promise<void>;
  private closed = false;

  constructor(
    private readonly link: Link,
    private readonly storage: Storage | undefined,
    private readonly key: string,
    /** The stored message of an acknowledged send, for its chat. */
    private readonly sent: (message: Message) => void,
    /** A send refused for good that no promise is waiting for (one left by an earlier run). */
    private readonly refused: (error: ClientError) => void,
  ) {
    this.loaded = Promise.resolve()
      .then(() => storage?.getItem(key))
      .then((raw) => {
        const stored: OutboxEntry[] = raw ? JSON.parse(raw) : [];
        this.entries = [...stored, ...this.entries];
      })
      .catch(() => {})
      .then(() => this.flush());
  }

  async add(chatId: string, text: string, replyTo?: string): Promise<Message> {
    if (this.closed) throw closedError();
    const entry: OutboxEntry = { clientId: newClientId(), chatId, text, createdAt: now() };
    if (replyTo) entry.replyTo = replyTo;
    const done = new Promise<Message>((resolve, reject) =>
      this.waiting.set(entry.clientId, { resolve, reject }),
    );
    await this.loaded;
    this.entries.push(entry);
    await this.save();
    this.send(entry);
    return done;
  }

  /** What is still unacknowledged, oldest first. */
  pending(chatId?: string): OutboxEntry[] {
    return this.entries.filter((e) => chatId === undefined || e.chatId === chatId);
  }

  /** Sends everything unacknowledged; called when a socket opens. */
  flush(): void {
    for (const entry of this.entries) this.send(entry);
  }

  /** The client closed: the app's promises fail, the entries stay for the next client. */
  close(): void {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    for (const { reject } of this.waiting.values()) reject(closedError());
    this.waiting.clear();
  }

  private async send(entry: OutboxEntry): Promise<void> {
    const { clientId, chatId, text, replyTo } = entry;
    if (this.inFlight.has(clientId) || !this.link.open || !this.entries.includes(entry)) return;
    this.inFlight.add(clientId);
    const answer = await this.link.request("send-message", {
      chatId,
      text,
      clientId,
      ...(replyTo ? { replyTo } : {}),
    });
    this.inFlight.delete(clientId);
    // The socket closed first: the next one sends it again.
    if (!answer || !this.entries.includes(entry)) return;
    if (answer.event === "message-sent") return this.settle(entry, answer.data.message);
    const error = new ClientError(answer.data ?? {});
    if (!RETRY.has(error.code)) return this.settle(entry, undefined, error);
    const timer = setTimeout(
      () => {
        this.retries.delete(timer);
        this.send(entry);
      },
      (error.retryAfter ?? 1) * 1000,
    );
    this.retries.add(timer);
  }

  private settle(entry: OutboxEntry, message?: Message, error?: ClientError): void {
    this.entries = this.entries.filter((e) => e !== entry);
    void this.save();
    const waiter = this.waiting.get(entry.clientId);
    this.waiting.delete(entry.clientId);
    if (message) {
      this.sent(message);
      waiter?.resolve(message);
    } else if (waiter) {
      waiter.reject(error!);
    } else {
      this.refused(error!);
    }
  }

  /** Writes are chained, so an async storage never sees them out of order. */
  private save(): Promise<unknown> {
    const { storage, key } = this;
    if (!storage) return this.saving;
    const value = this.entries.length ? JSON.stringify(this.entries) : undefined;
    this.saving = this.saving
      .then(() => (value ? storage.setItem(key, value) : storage.removeItem(key)))
      .catch(() => {});
    return this.saving;
  }
}

function closedError(): ClientError {
  return new ClientError({
    code: "CLOSED",
    message: "The client is closed; a send it had not had acknowledged stays in storage",
  });
}

function now(): string {
  return new Date().toISOString();
}

/** Unique per sender for good: the time, and 96 random bits. */
function newClientId(): string {
  const bytes = new Uint8Array(12);
  if (globalThis.crypto) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let id = `${Date.now().toString(36)}-`;
  for (const byte of bytes) id += byte.toString(16).padStart(2, "0");
  return id;
}
