import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";
import { databaseUnavailable, fromDatabaseError } from "../../db/errors.ts";
import { AppError, UnavailableError } from "../../errors.ts";
import { findUnsafeInput } from "../../plugins/input-guard.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Broker } from "../../realtime/broker.ts";
import { encodeFrame, type Hub, readControl } from "../../realtime/hub.ts";
import type { Presence, PresenceChange } from "../../realtime/presence.ts";
import { topics } from "../../realtime/topics.ts";
import type { SignIns } from "../auth/sign-ins.ts";
import type { ChatService } from "../chats/service.ts";
import type { Sender } from "../messages/service.ts";
import { ClientFrame, clientEvents, gatewayEvents, isClientEvent } from "./events.ts";
import { type AnySocketFeature, type Socket, socketFeature } from "./socket-feature.ts";

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
/**
 * One compiled check per event, picked by the frame's `event`: checking a frame against the
 * union of every event's schema tried them one after another.
 */
const validFrames = new Map(
  ClientFrame.anyOf.map((schema) => [schema.properties.event.const, TypeCompiler.Compile(schema)]),
);

/** The gateway's own event: `ping` → `pong` with the same data, even with the database away. */
const gatewayFeature = socketFeature({
  events: gatewayEvents,
  withoutDatabase: ["ping"],
  async handle(socket, frame) {
    socket.send("pong", frame.data ?? null, frame.ref);
  },
});

interface SocketState {
  readonly user: Sender;
  /** What features see of this socket; they keep their own state about it. */
  readonly socket: Socket;
  /** The built-in sign-in session the socket was opened with; none for a Clerk token. */
  readonly signInId: string | undefined;
  readonly connection: Connection;
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
  /** Whom presence changes are announced to: the people who share a chat with the user. */
  chats: Pick<ChatService, "contactsOf">;
  /** The features that own the client events (each feature's `socket.ts`), ping aside. */
  features: AnySocketFeature[];
  /** Whether a sign-in session still stands, read once more as a socket opens. */
  signIns: Pick<SignIns, "isActive">;
  /** False while the driver knows the database is out of reach: events that need it fail fast. */
  databaseReachable: () => boolean;
  log: Logger;
}

/**
 * Everything that happens on /ws, independent of the framework: sockets authenticated and
 * registered, presence on open and close, client frames validated against the one union of client
 * events and routed to the feature that owns the event, control instructions handed to every
 * feature. It knows no event but `ping`: each feature's `socket.ts` owns its own.
 */
export class RealtimeGateway {
  private readonly sockets = new Map<Connection, SocketState>();

  get socketsOpen(): number {
    return this.sockets.size;
  }
  /** Close handlers still giving back presence; stop() waits for them. */
  private readonly closing = new Set<Promise<void>>();
  private readonly sweep: Timer;
  private readonly features: AnySocketFeature[];
  /** Which feature owns each client event. */
  private readonly routes = new Map<string, AnySocketFeature>();
  private readonly withoutDatabase = new Set<string>();

  constructor(private readonly deps: GatewayDeps) {
    this.features = [gatewayFeature, ...deps.features];
    for (const feature of this.features) {
      for (const event of Object.keys(feature.events)) {
        if (this.routes.has(event)) throw new Error(`Two socket features handle "${event}"`);
        this.routes.set(event, feature);
      }
      for (const event of feature.withoutDatabase ?? []) this.withoutDatabase.add(event);
    }
    const unrouted = Object.keys(clientEvents).filter((event) => !this.routes.has(event));
    const unlisted = [...this.routes.keys()].filter((event) => !isClientEvent(event));
    if (unrouted.length > 0 || unlisted.length > 0) {
      // One union validates every frame: a feature's events must be in it, and each has an owner.
      throw new Error(
        `Socket events without a feature: ${unrouted.join(", ") || "none"}; ` +
          `not in the client event union (events.ts): ${unlisted.join(", ") || "none"}`,
      );
    }
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
      socket: {
        user,
        send: (event, data, ref) => this.send(state, event, data, ref),
        // A feature may still be busy with a frame when the socket closes: nothing to hold then.
        subscribe: (topic) => {
          if (this.sockets.get(connection) === state) connection.subscribe(topic);
        },
        unsubscribe: (topic) => {
          if (this.sockets.get(connection) === state) connection.unsubscribe(topic);
        },
      },
      signInId,
      connection,
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

  /** What a closed socket leaves behind: what features gave it (calls, sessions), and presence. */
  private async forget(state: SocketState): Promise<void> {
    for (const feature of this.features) {
      await feature
        .closed?.(state.socket)
        .catch((error: Error) => this.deps.log.error({ err: error }, "socket close failed"));
    }
    if (await this.deps.presence.disconnect(state.user.id)) {
      await this.announce({ userIds: [state.user.id], online: false });
    }
  }

  /** `raw` is the frame as it arrived: text, or bytes for a binary frame. */
  message(connection: Connection, raw: string | Buffer): Promise<void> {
    const state = this.sockets.get(connection);
    if (!state) return Promise.resolve();
    state.queue = state.queue
      .then(() => this.handle(state, raw))
      .catch((error: Error) => this.deps.log.error({ err: error }, "frame failed"));
    return state.queue;
  }

  private async handle(state: SocketState, raw: string | Buffer): Promise<void> {
    const { connection } = state;
    if ((typeof raw === "string" ? Buffer.byteLength(raw) : raw.byteLength) > MAX_FRAME_BYTES) {
      connection.close(1009, "Frame too large");
      return;
    }
    let ref: string | undefined;
    try {
      const parsed = parseJson(raw);
      const given = (parsed as { ref?: unknown }).ref;
      if (typeof given === "string") ref = given;
      // The same rule as for request bodies, before anything recurses through the frame.
      const unsafe = findUnsafeInput(parsed, "frame");
      if (unsafe) throw new FrameError("VALIDATION", "The frame is invalid", [unsafe]);
      await this.dispatch(state, parseFrame(parsed));
    } catch (error) {
      this.sendError(state, error, ref);
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
    for (const feature of this.features) {
      try {
        feature.control?.(instruction);
      } catch (error) {
        this.deps.log.error({ err: error }, "control instruction failed");
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
    // Frames are handled one at a time: one waiting out the driver would hold up the rest.
    if (!this.withoutDatabase.has(frame.event) && !this.deps.databaseReachable()) {
      throw databaseUnavailable();
    }
    await this.routes.get(frame.event)!.handle(state.socket, frame);
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

const NOT_A_FRAME = 'A frame must be a JSON object: { "event", "data", "ref"? }';

/** A text frame's JSON; anything else (not JSON, binary, not an object) is refused. */
function parseJson(raw: string | Buffer): object {
  let parsed: unknown;
  try {
    parsed = typeof raw === "string" ? JSON.parse(raw) : undefined;
  } catch {
    // Not JSON (or nested too deep for the parser): the same answer.
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new FrameError("VALIDATION", NOT_A_FRAME);
  }
  return parsed;
}

function parseFrame(raw: object): ClientFrame {
  const { event } = raw as { event?: unknown };
  if (!isClientEvent(event)) {
    throw new FrameError(
      "UNKNOWN_EVENT",
      `Unknown event: ${JSON.stringify(event ?? null).slice(0, 60)}`,
    );
  }
  if (validFrames.get(event)?.Check(raw)) return raw as ClientFrame;
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
