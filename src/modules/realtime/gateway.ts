import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { databaseUnavailable, fromDatabaseError } from "../../db/errors.ts";
import { AppError, RateLimitedError, UnavailableError } from "../../errors.ts";
import { findUnsafeInput } from "../../plugins/input-guard.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Broker } from "../../realtime/broker.ts";
import { encodeFrame, type Hub, readControl } from "../../realtime/hub.ts";
import type { Presence, PresenceChange } from "../../realtime/presence.ts";
import { RATE_RULES, type RateLimiter, type RateRules } from "../../realtime/rate-limit.ts";
import { topics } from "../../realtime/topics.ts";
import type { SignIns } from "../auth/sign-ins.ts";
import type { ChatMembership, ChatService } from "../chats/service.ts";
import type { MessageService, Sender } from "../messages/service.ts";
import type { SessionMembership, SessionService } from "../sessions/service.ts";
import { ClientFrame, clientEvents, isClientEvent } from "./events.ts";

/** The transport as the gateway sees it: Bun's ServerWebSocket, minus everything else. */
export interface Connection {
  send(data: string): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  close(code: number, reason: string): void;
  getBufferedAmount(): number;
}

/** The contract's limit on one client frame. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** A socket whose unsent data stays above this for BACKPRESSURE_GRACE_MS is closed with 1013. */
export const SEND_BUFFER_LIMIT = 1024 * 1024;
const BACKPRESSURE_GRACE_MS = 2000;
const TOO_SLOW = "Too slow to keep up; reconnect and resume";
const UNAVAILABLE = "The service is unavailable; reconnect shortly";
const SIGNED_OUT = "Signed out";
/** Events that can be handled with the database out of reach (typing, once membership is known). */
const NO_DATABASE = new Set<string>(["ping", "typing", "leave-chat"]);
/** How many missed messages one replay page holds; replay pages until caught up. */
const REPLAY_PAGE = 100;

const validFrame = TypeCompiler.Compile(ClientFrame);

interface SocketState {
  readonly user: Sender;
  /** The built-in sign-in session the socket was opened with; none for a Clerk token. */
  readonly signInId: string | undefined;
  readonly connection: Connection;
  /** Chats this socket may act in: checked once, then trusted until the socket closes. */
  readonly memberships: Map<string, ChatMembership>;
  /**
   * Sessions this socket joined, with who was in them when last read. Only a hint for peer-left:
   * a session's seat changes hands, so relays check the stored session every time.
   */
  readonly sessions: Map<string, SessionMembership>;
  overLimitSince: number | undefined;
  /** Frames from one socket are handled in the order they came, one at a time. */
  queue: Promise<void>;
}

class FrameError extends AppError {
  constructor(code: string, message: string, errors?: { path: string; message: string }[]) {
    super(400, code, message, errors ? { errors } : {});
  }
}

export interface GatewayDeps {
  broker: Broker;
  hub: Hub;
  presence: Presence;
  limiter: RateLimiter;
  /** Per-user limits for socket events; the contract's by default. */
  rules?: RateRules;
  chats: ChatService;
  messages: MessageService;
  sessions: SessionService;
  /** Whether a sign-in session still stands, read once more as a socket opens. */
  signIns: Pick<SignIns, "isActive">;
  /** False while the driver knows the database is out of reach: events that need it fail fast. */
  databaseReachable: () => boolean;
  log: Logger;
}

/**
 * Everything that happens on /ws, independent of the framework: presence on open and close,
 * client frames validated against the one union of client events and dispatched to the services.
 */
export class RealtimeGateway {
  private readonly sockets = new Map<Connection, SocketState>();
  /** Close handlers still giving back presence; stop() waits for them. */
  private readonly closing = new Set<Promise<void>>();
  private readonly sweep: Timer;
  private readonly rules: RateRules;

  constructor(private readonly deps: GatewayDeps) {
    this.rules = deps.rules ?? RATE_RULES;
    this.sweep = setInterval(() => this.closeSlowSockets(), 500);
    this.sweep.unref();
    deps.presence.onChange((change) => this.announce(change));
    // While fan-out was down, events published on other instances never reached these sockets.
    // Their clients reconnect and resume with after=<seq> rather than miss messages silently.
    deps.broker.onRecovered(() =>
      this.closeAll(1012, "Reconnect and resume: events may be missing"),
    );
  }

  /**
   * `user-online` / `user-offline` to everyone who shares a chat with these users: for sockets
   * closing here, and for changes found elsewhere (an instance that died).
   */
  private async announce({ userIds, online }: PresenceChange): Promise<void> {
    const event = online ? "user-online" : "user-offline";
    for (const userId of userIds) {
      try {
        this.deps.hub.toUsers(await this.deps.chats.contactsOf(userId), event, { userId });
      } catch (error) {
        this.deps.log.error({ err: error }, "presence announce failed");
      }
    }
  }

  async open(connection: Connection, user: Sender, signInId?: string): Promise<void> {
    const state: SocketState = {
      user,
      signInId,
      connection,
      memberships: new Map(),
      sessions: new Map(),
      overLimitSince: undefined,
      queue: Promise.resolve(),
    };
    this.sockets.set(connection, state);
    connection.subscribe(topics.user(user.id));
    const { presence, chats, hub, signIns } = this.deps;
    try {
      // The upgrade checked the sign-in already; check again now that the socket is registered,
      // since a logout whose control message came in between would have found no socket to close.
      const [becameOnline, contacts, signedIn] = await Promise.all([
        presence.connect(user.id),
        chats.contactsOf(user.id),
        signInId === undefined ? true : signIns.isActive(signInId, user.id),
      ]);
      if (!signedIn) {
        connection.close(1008, SIGNED_OUT);
        return;
      }
      if (becameOnline) hub.toUsers(contacts, "user-online", { userId: user.id });
      this.send(state, "online-users", { userIds: await presence.online(contacts) });
    } catch (error) {
      // Without its contacts the socket cannot start as the contract says: the client is told
      // to try again later (its close gives the presence back).
      this.deps.log.warn({ err: error }, "socket open failed");
      connection.close(1013, UNAVAILABLE);
    }
  }

  close(connection: Connection): Promise<void> {
    const state = this.sockets.get(connection);
    if (!state) return Promise.resolve();
    this.sockets.delete(connection);
    const closing = this.forget(state).finally(() => this.closing.delete(closing));
    this.closing.add(closing);
    return closing;
  }

  /** What a closed socket leaves behind: its sessions' peers and its user's presence. */
  private async forget(state: SocketState): Promise<void> {
    await this.leaveSessions(state);
    if (await this.deps.presence.disconnect(state.user.id)) {
      await this.announce({ userIds: [state.user.id], online: false });
    }
  }

  /** `raw` is the frame as Elysia hands it over: parsed JSON when it was JSON, else a string or bytes. */
  message(connection: Connection, raw: unknown): Promise<void> {
    const state = this.sockets.get(connection);
    if (!state) return Promise.resolve();
    state.queue = state.queue
      .then(() => this.handle(state, raw))
      .catch((error: Error) => this.deps.log.error({ err: error }, "frame failed"));
    return state.queue;
  }

  private async handle(state: SocketState, raw: unknown): Promise<void> {
    const { connection } = state;
    // The same rule as for request bodies, first: what follows may recurse through the frame.
    const unsafe = findUnsafeInput(raw, "frame");
    if (!unsafe && frameSize(raw) > MAX_FRAME_BYTES) {
      connection.close(1009, "Frame too large");
      return;
    }
    const ref =
      typeof raw === "object" && raw !== null ? (raw as { ref?: unknown }).ref : undefined;
    try {
      if (unsafe) throw new FrameError("VALIDATION", "The frame is invalid", [unsafe]);
      await this.dispatch(state, parseFrame(raw));
    } catch (error) {
      this.sendError(state, error, typeof ref === "string" ? ref : undefined);
    }
  }

  /**
   * Instructions from any instance through the hub: closing a deleted user's sockets, the sockets
   * of an ended sign-in session (logout), or those of every built-in sign-in of a user
   * (logout-all; a Clerk token's sockets stay, Clerk ends its own sessions).
   */
  control(message: string): void {
    const instruction = readControl(message);
    if (!instruction) {
      this.deps.log.warn("ignored a malformed control message");
      return;
    }
    const { disconnect, revokeSignIn, revokeSignInsOf } = instruction;
    for (const [connection, state] of this.sockets) {
      if (state.user.id === disconnect) {
        connection.close(1008, "Account deleted");
      } else if (state.signInId !== undefined && state.signInId === revokeSignIn) {
        connection.close(1008, SIGNED_OUT);
      } else if (state.signInId !== undefined && state.user.id === revokeSignInsOf) {
        connection.close(1008, SIGNED_OUT);
      }
    }
  }

  /** Closes every socket, e.g. with 1001 when the server goes away. */
  closeAll(code: number, reason: string): void {
    for (const connection of this.sockets.keys()) connection.close(code, reason);
  }

  /** Stops the sweep and waits until every closed socket's presence has been given back. */
  async stop(): Promise<void> {
    clearInterval(this.sweep);
    await Promise.allSettled([...this.closing]);
  }

  private async dispatch(state: SocketState, frame: ClientFrame): Promise<void> {
    const { user } = state;
    // Frames are handled one at a time: one waiting out the driver would hold up the rest.
    if (!NO_DATABASE.has(frame.event) && !this.deps.databaseReachable()) {
      throw databaseUnavailable();
    }
    switch (frame.event) {
      case "join-chat": {
        const { chatId, after } =
          typeof frame.data === "string" ? { chatId: frame.data, after: undefined } : frame.data;
        await this.member(state, chatId);
        state.connection.subscribe(topics.chat(chatId, user.id));
        this.send(state, "chat-joined", { chatId }, frame.ref);
        if (after !== undefined) await this.replay(state, chatId, after);
        return;
      }
      case "leave-chat":
        state.connection.unsubscribe(topics.chat(frame.data, user.id));
        return;
      case "send-message": {
        const { chatId, text, clientId } = frame.data;
        const membership = await this.member(state, chatId);
        await this.limit(`send:${user.id}`, this.rules.sendMessage);
        const { message } = await this.deps.messages.send({
          chatId,
          sender: user,
          text,
          clientId,
          membership,
        });
        this.send(state, "message-sent", { clientId: clientId ?? null, message }, frame.ref);
        return;
      }
      case "typing": {
        const { chatId, isTyping } = frame.data;
        const membership = await this.member(state, chatId);
        await this.limit(`typing:${user.id}`, this.rules.typing);
        const others = membership.participantIds.filter((id) => id !== user.id);
        this.deps.hub.toChat(chatId, others, "typing", { userId: user.id, chatId, isTyping });
        return;
      }
      case "mark-read":
        await this.member(state, frame.data.chatId);
        await this.deps.chats.markRead(user.id, frame.data.chatId, frame.data.seq);
        return;
      case "ping":
        this.send(state, "pong", frame.data ?? null, frame.ref);
        return;
      case "join-session": {
        const membership = await this.deps.sessions.activeMembership(frame.data, user.id);
        state.sessions.set(frame.data, membership);
        state.connection.subscribe(topics.session(frame.data, user.id));
        this.send(state, "session-joined", { sessionId: frame.data }, frame.ref);
        this.deps.sessions.announcePeer(membership, user.id, "peer-joined");
        return;
      }
      case "leave-session":
        state.connection.unsubscribe(topics.session(frame.data, user.id));
        await this.leaveSession(state, frame.data);
        return;
      case "signal":
        await this.deps.sessions.signal(user.id, frame.data);
        return;
      case "toggle-media":
        await this.deps.sessions.toggleMedia(user.id, frame.data);
        return;
      case "code-update": {
        const { sessionId, version } = frame.data;
        await this.deps.sessions.updateCode(user.id, frame.data);
        this.send(state, "code-accepted", { sessionId, version }, frame.ref);
        return;
      }
    }
  }

  private async member(state: SocketState, chatId: string): Promise<ChatMembership> {
    const cached = state.memberships.get(chatId);
    if (cached) return cached;
    const membership = await this.deps.chats.membership(chatId, state.user.id);
    state.memberships.set(chatId, membership);
    return membership;
  }

  /** `peer-left` to the others in a session this socket had joined, as stored now. */
  private async leaveSession(state: SocketState, sessionId: string): Promise<void> {
    const known = state.sessions.get(sessionId);
    if (!known) return;
    state.sessions.delete(sessionId);
    const { sessions } = this.deps;
    // A participant who has left through REST is no longer a member: the last known host hears it.
    const membership = await sessions.membership(sessionId, state.user.id).catch(() => known);
    sessions.announcePeer(membership, state.user.id, "peer-left");
  }

  private async leaveSessions(state: SocketState): Promise<void> {
    for (const sessionId of [...state.sessions.keys()]) {
      await this.leaveSession(state, sessionId).catch((error: Error) =>
        this.deps.log.error({ err: error }, "peer-left failed"),
      );
    }
  }

  private async limit(key: string, rule: RateRules[keyof RateRules]): Promise<void> {
    if (!(await this.deps.limiter.take(key, rule))) {
      throw new RateLimitedError(Math.ceil(1 / rule.perSecond));
    }
  }

  /** Sends this socket every message of the chat after `after`, in order. */
  private async replay(state: SocketState, chatId: string, after: number): Promise<void> {
    let cursor = after;
    for (;;) {
      const page = await this.deps.messages.history(state.user.id, chatId, {
        after: cursor,
        limit: REPLAY_PAGE,
      });
      for (const message of page.messages) this.send(state, "new-message", message);
      const last = page.messages.at(-1);
      if (!page.hasMore || !last) return;
      cursor = last.seq;
    }
  }

  private send(state: SocketState, event: string, data: unknown, ref?: string): void {
    const frame =
      ref === undefined ? encodeFrame(event, data) : JSON.stringify({ event, data, ref });
    // Bun's answer: bytes written, -1 when queued behind unsent data, 0 when dropped.
    const written = state.connection.send(frame);
    if (written === 0) {
      // The client would silently miss this frame; it must reconnect and resume instead.
      state.connection.close(1013, TOO_SLOW);
    } else if (written === -1 && state.overLimitSince === undefined) {
      // Start the grace period now rather than at the next sweep.
      if (state.connection.getBufferedAmount() > SEND_BUFFER_LIMIT)
        state.overLimitSince = Date.now();
    }
  }

  private sendError(state: SocketState, error: unknown, ref: string | undefined): void {
    let body: Record<string, unknown>;
    const known = error instanceof AppError ? error : fromDatabaseError(error);
    if (known) {
      if (known instanceof UnavailableError) {
        this.deps.log.warn({ err: error }, "socket event failed: database unavailable");
      }
      body = known.toBody();
    } else {
      this.deps.log.error({ err: error }, "socket event failed");
      body = { message: "Something went wrong on our side", code: "INTERNAL" };
    }
    this.send(state, "socket-error", { ...body, ref: ref ?? null });
  }

  /** A client that does not read its socket is not allowed to hold memory or slow the others down. */
  private closeSlowSockets(): void {
    const now = Date.now();
    for (const state of this.sockets.values()) {
      if (state.connection.getBufferedAmount() <= SEND_BUFFER_LIMIT) {
        state.overLimitSince = undefined;
      } else if (state.overLimitSince === undefined) {
        state.overLimitSince = now;
      } else if (now - state.overLimitSince >= BACKPRESSURE_GRACE_MS) {
        state.connection.close(1013, TOO_SLOW);
      }
    }
  }
}

function frameSize(raw: unknown): number {
  if (typeof raw === "string") return Buffer.byteLength(raw);
  if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) return raw.byteLength;
  // Elysia parsed it already; its JSON is within a few bytes of what arrived.
  return Buffer.byteLength(JSON.stringify(raw) ?? "");
}

function parseFrame(raw: unknown): ClientFrame {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new FrameError(
      "VALIDATION",
      'A frame must be a JSON object: { "event", "data", "ref"? }',
    );
  }
  const { event } = raw as { event?: unknown };
  if (!isClientEvent(event)) {
    throw new FrameError(
      "UNKNOWN_EVENT",
      `Unknown event: ${JSON.stringify(event ?? null).slice(0, 60)}`,
    );
  }
  if (validFrame.Check(raw)) return raw;
  const data = (raw as { data?: unknown }).data;
  const errors = [...Value.Errors(clientEvents[event], data)].slice(0, 10).map((e) => ({
    path: `data${e.path.replaceAll("/", ".")}`,
    message: e.message,
  }));
  throw new FrameError(
    "VALIDATION",
    `The data of "${event}" is invalid`,
    errors.length ? errors : undefined,
  );
}
