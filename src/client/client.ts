import { type Api, createApi } from "./api.ts";
import { Auth, type TokenSource } from "./auth.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { Changes } from "./changes.ts";
import { ChatChannel } from "./chat.ts";
import { Emitter } from "./emitter.ts";
import { authorizedFetch, Rest } from "./http.ts";
import { Outbox } from "./outbox.ts";
import { RoomChannel } from "./room.ts";
import { type Rebase, SessionChannel } from "./session.ts";
import { type Frame, Transport } from "./transport.ts";
import {
  type Chat,
  ClientError,
  type Message,
  type SessionCode,
  type Status,
  type Storage,
} from "./types.ts";

export interface ClientOptions {
  /** The server, e.g. `https://chat.example.com` (a path such as `/` is taken relative to the page). */
  baseUrl: string;
  /**
   * A token, or a function that gives one (Clerk's `getToken`); called again after a 401 or a 1008
   * close. Without one, a browser authenticates by the `token` cookie.
   */
  token?: TokenSource;
  /** `fetch`'s credentials: `"include"` sends the cookie to another origin of the same site. */
  credentials?: RequestInit["credentials"];
  /** Where unacknowledged sends outlive the app: localStorage, AsyncStorage, … */
  storage?: Storage;
  /** The storage key of the outbox; one per signed-in user on a shared device. */
  storageKey?: string;
  /** How often the socket is pinged; a socket silent for two intervals is dead (15 s). */
  heartbeatMs?: number;
  /** Reconnect timing: up to 1 s at first, doubling to at most 30 s, reset after 10 s open. */
  reconnect?: BackoffOptions;
  /** `typing(true)` stops by itself this long after the last call (5 s). */
  typingTimeoutMs?: number;
  /** An edit, deletion or reaction not answered this long after the call rejects (10 s). */
  changeTimeoutMs?: number;
}

export interface PresenceChange {
  /** Everyone online among the people who share a chat with the caller. */
  online: ReadonlySet<string>;
  /** The user whose state changed; absent for the list a new socket starts with. */
  userId?: string;
}

export interface ClientEvents {
  status: Status;
  presence: PresenceChange;
  /** A `socket-error` nobody was waiting for, a failed join, or why the client closed. */
  error: ClientError;
  /** A chat the user is in was created or changed (`chat-updated`: a group's name, members). */
  chat: Chat;
}

/** Close codes after which only a fresh token may try again. */
const SIGNED_OUT = 1008;

/**
 * One socket per client, and everything the app joined on it: reconnects with backoff, rejoins
 * each chat, session and room on every new socket, then resends the outbox.
 */
export class Client {
  private readonly events = new Emitter<ClientEvents>();
  private readonly auth: Auth;
  private readonly rest: Rest;
  private readonly fetch: typeof fetch;
  private readonly transport: Transport;
  private readonly backoff: Backoff;
  private readonly outbox: Outbox;
  private readonly changes: Changes;
  private readonly chats = new Map<string, ChatChannel>();
  private readonly sessions = new Map<string, SessionChannel>();
  private readonly rooms = new Map<string, RoomChannel>();
  private readonly online = new Set<string>();
  private readonly baseUrl: string;
  private state: Status = "connecting";
  private api_: Api | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private socketToken: string | undefined;
  private openedAt = 0;

  constructor(private readonly options: ClientOptions) {
    const { baseUrl } = options;
    const page = (globalThis as { location?: { href: string } }).location?.href;
    this.baseUrl = (/^https?:/.test(baseUrl) ? baseUrl : new URL(baseUrl, page).href).replace(
      /\/+$/,
      "",
    );
    this.auth = new Auth(options.token);
    this.fetch = authorizedFetch(this.auth, options.credentials);
    this.rest = new Rest(this.baseUrl, this.fetch);
    this.backoff = new Backoff(options.reconnect);
    this.transport = new Transport(options.heartbeatMs ?? 15_000, {
      open: () => this.opened(),
      close: (code, _reason, opened) => void this.closed(code, opened),
      frame: (frame) => this.route(frame),
    });
    this.outbox = new Outbox(
      this.transport,
      options.storage,
      options.storageKey ?? "chat-client:outbox",
      (message) => this.chats.get(message.chat)?.receive(message),
      (error) => this.events.emit("error", error),
    );
    this.changes = new Changes(this.transport, options.changeTimeoutMs ?? 10_000);
    void this.connect();
  }

  /** Every REST route through Eden's treaty, with the client's token. */
  get api(): Api {
    this.api_ ??= createApi(this.baseUrl, this.fetch);
    return this.api_;
  }

  get status(): Status {
    return this.state;
  }

  on<K extends keyof ClientEvents>(
    event: K,
    listener: (payload: ClientEvents[K]) => void,
  ): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Follows a chat: joined now and on every new socket. `after`: the last `seq` the app already
   * has (from its cache, or a chat's `lastSeq` to start from now); every later message reaches
   * `on("message")`. 0 by default: the whole chat. `since`: the highest `version` the app has seen
   * of it (a chat's `version` to start from now); every later change to the messages up to
   * `after` reaches `on("update")` / `on("delete")`. With `after` alone, the chat as it is when
   * joined is taken for what the app has.
   */
  chat(chatId: string, options: { after?: number; since?: number } = {}): ChatChannel {
    let chat = this.chats.get(chatId);
    if (!chat) {
      const { after = 0, since = after ? undefined : 0 } = options;
      chat = new ChatChannel(chatId, after, since, {
        link: this.transport,
        rest: this.rest,
        outbox: this.outbox,
        changes: this.changes,
        typingTimeoutMs: this.options.typingTimeoutMs ?? 5000,
        gapWaitMs: 200,
        error: (error) => this.events.emit("error", error),
        forget: () => this.chats.delete(chatId),
        version: () => this.rest.chatVersion(chatId),
      });
      this.chats.set(chatId, chat);
      if (this.transport.open) void chat.join();
    }
    return chat;
  }

  /** Joins an interview session (host or participant): signaling and the shared editor. */
  session(
    sessionId: string,
    options: { code?: SessionCode; rebase?: Rebase } = {},
  ): SessionChannel {
    let session = this.sessions.get(sessionId);
    if (!session) {
      session = new SessionChannel(
        sessionId,
        this.callDeps(() => this.sessions.delete(sessionId)),
        options.code,
        options.rebase,
      );
      this.sessions.set(sessionId, session);
      if (this.transport.open) void session.join();
    }
    return session;
  }

  /** Joins a call room (members only): who is in it, and signaling between any two. */
  room(roomId: string): RoomChannel {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new RoomChannel(
        roomId,
        "roomId",
        { join: "join-room", leave: "leave-room" },
        this.callDeps(() => this.rooms.delete(roomId)),
      );
      this.rooms.set(roomId, room);
      if (this.transport.open) void room.join();
    }
    return room;
  }

  /** Closes the socket for good. Unacknowledged sends stay in storage for the next client. */
  close(): void {
    this.stop();
  }

  private callDeps(forget: () => void) {
    return {
      link: this.transport,
      error: (error: ClientError) => this.events.emit("error", error),
      forget,
    };
  }

  private channels(): (ChatChannel | SessionChannel | RoomChannel)[] {
    return [...this.chats.values(), ...this.sessions.values(), ...this.rooms.values()];
  }

  private setStatus(status: Status): void {
    if (this.state === status) return;
    this.state = status;
    this.events.emit("status", status);
  }

  private stop(error?: ClientError): void {
    if (this.state === "closed") return;
    clearTimeout(this.retry);
    this.transport.disconnect();
    this.outbox.close();
    this.changes.close();
    for (const channel of this.channels()) channel.leave();
    this.setStatus("closed");
    if (error) this.events.emit("error", error);
  }

  private async connect(): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.auth.current();
    } catch {
      // No token yet (offline, the sign-in library not ready): a failed attempt like any other.
      this.events.emit("error", new ClientError({ code: "TOKEN", message: "token() failed" }));
      return this.closed(1006, false);
    }
    if (this.state === "closed") return;
    this.socketToken = token;
    const url = `${this.baseUrl.replace(/^http/, "ws")}/ws`;
    this.transport.connect(token ? `${url}?token=${encodeURIComponent(token)}` : url);
  }

  private opened(): void {
    this.openedAt = Date.now();
    this.setStatus("open");
    // Joins first: frames are handled in order, so each chat's replay precedes the resends' echoes.
    for (const channel of this.channels()) void channel.join();
    this.outbox.flush();
    this.changes.flush();
  }

  private async closed(code: number, opened: boolean): Promise<void> {
    if (this.state === "closed") return;
    this.backoff.closedAfter(opened ? Date.now() - this.openedAt : 0);
    this.setStatus(this.state === "connecting" && !opened ? "connecting" : "reconnecting");
    // A refused upgrade looks like any failed connection; ask REST whether the token is the reason
    // (its 401 already asked token() again when it could).
    const refused =
      code === SIGNED_OUT
        ? !(await this.auth.refresh(this.socketToken))
        : !opened && (await this.rest.signedIn()) === false;
    if (refused) {
      return this.stop(
        new ClientError({ code: "UNAUTHORIZED", message: "Signed out: the token was refused" }),
      );
    }
    // close() may have been called while REST was asked.
    if ((this.state as Status) === "closed") return;
    this.retry = setTimeout(() => void this.connect(), this.backoff.next());
  }

  private route(frame: Frame): void {
    const { event, data } = frame;
    const d = data ?? {};
    if (event === "online-users" || event === "user-online" || event === "user-offline") {
      this.presence(event, d);
    } else if (event === "socket-error") {
      this.events.emit("error", new ClientError(d));
    } else if (event === "chat-updated") {
      this.events.emit("chat", d.chat);
    } else {
      const target =
        this.chats.get((d as Message).chat ?? d.chatId) ??
        this.sessions.get(d.sessionId ?? d.session?._id) ??
        this.rooms.get(d.roomId);
      target?.handle(frame);
    }
  }

  private presence(event: string, data: { userIds?: string[]; userId?: string }): void {
    if (event === "online-users") {
      this.online.clear();
      for (const id of data.userIds ?? []) this.online.add(id);
    } else if (event === "user-online") this.online.add(data.userId!);
    else this.online.delete(data.userId!);
    this.events.emit("presence", { online: new Set(this.online), userId: data.userId });
  }
}

export function createClient(options: ClientOptions): Client {
  return new Client(options);
}
