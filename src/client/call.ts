import { Emitter } from "./emitter.ts";
import type { Frame, Link } from "./transport.ts";
import {
  ClientError,
  type MediaKind,
  type MediaState,
  type Signal,
  type SignalType,
} from "./types.ts";

export interface CallEvents {
  /**
   * Someone joined the call after this client (`peer-joined` in a session, `user-joined` in a
   * room, where it names them too): this side makes them an offer. Also when they join again
   * (another device, a reconnect): drop the old peer connection and offer anew.
   */
  "peer-joined": { userId: string };
  /** Someone left the call (`peer-left` in a session, `user-left` in a room): close theirs. */
  "peer-left": { userId: string };
  /** A WebRTC offer, answer or ICE candidate from another member. */
  signal: Signal;
  /** Another member muted or unmuted their microphone or camera. */
  media: MediaState;
  error: ClientError;
}

export interface CallDeps {
  link: Link;
  error(error: ClientError): void;
  forget(): void;
}

/**
 * What interview sessions and call rooms share: joined on every new socket, who joins and leaves
 * the call, and the one signaling relay (`signal`, `toggle-media`) addressed by `sessionId` or
 * `roomId`. Code that places a call can take either as a `CallChannel`.
 */
export abstract class CallChannel<Events extends CallEvents = CallEvents> {
  protected readonly events = new Emitter<Events>();
  protected active = true;

  constructor(
    readonly id: string,
    private readonly key: "sessionId" | "roomId",
    private readonly verbs: { join: string; leave: string },
    protected readonly deps: CallDeps,
  ) {}

  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Relays a WebRTC signal to user `to`; false while the socket is down (renegotiate later). */
  signal(to: string, type: SignalType, payload: unknown): boolean {
    return this.deps.link.push("signal", { [this.key]: this.id, to, type, payload });
  }

  /** Tells the others about a muted or unmuted microphone or camera. */
  media(kind: MediaKind, enabled: boolean): boolean {
    return this.deps.link.push("toggle-media", { [this.key]: this.id, kind, enabled });
  }

  leave(): void {
    if (!this.active) return;
    this.deps.link.push(this.verbs.leave, this.id);
    this.stop();
  }

  /** On every new socket. */
  async join(): Promise<void> {
    const answer = await this.deps.link.request(this.verbs.join, this.id);
    if (!this.active || !answer) return;
    if (answer.event !== "socket-error") return this.handle(answer);
    const error = new ClientError(answer.data);
    if (error.code === "UNAVAILABLE" || error.code === "INTERNAL") {
      setTimeout(
        () => this.active && this.deps.link.open && this.join(),
        (error.retryAfter ?? 1) * 1000,
      );
      return;
    }
    this.fail(error);
  }

  handle(frame: Frame): void {
    if (!this.active) return;
    if (frame.event === "signal") this.events.emit("signal", frame.data);
    else if (frame.event === "toggle-media") this.events.emit("media", frame.data);
    else this.other(frame);
  }

  protected abstract other(frame: Frame): void;

  protected fail(error: ClientError): void {
    this.events.emit("error", error);
    this.deps.error(error);
  }

  /** No longer joined, and not joined again on the next socket. */
  protected stop(): void {
    this.active = false;
    this.deps.forget();
  }
}
