import { ForbiddenError, ValidationError } from "../../errors.ts";
import { SIGNAL_PAYLOAD_MAX_BYTES } from "./model.ts";

/**
 * A kind of call the relay serves: an interview session (host and participant) or a room (its
 * members). Each says who is in one of its calls, as stored now, and how to reach the sockets of a
 * user that joined it.
 */
export interface Call {
  /** How frames name a call of this kind, and how the relay names it back. */
  readonly key: "sessionId" | "roomId";
  /**
   * Everyone in the call, `userId` included, read from the store now (membership changes on
   * other instances). Throws when `userId` is not in it: NOT_FOUND, as existence is not leaked.
   */
  members(callId: string, userId: string): Promise<string[]>;
  /** To the sockets of each of `userIds` that joined this call. */
  deliver(callId: string, userIds: string[], event: string, data: unknown): void;
}

export interface SignalInput {
  to: string;
  type: "offer" | "answer" | "ice-candidate";
  payload: unknown;
}

export interface ToggleMediaInput {
  kind: "audio" | "video";
  enabled: boolean;
}

/**
 * The one relay of WebRTC signaling, for sessions and rooms alike. A signal goes from a member of
 * a call to another member of the same call, to that member's sockets that joined the call, and
 * nowhere else; the sender must be in the call (else what `members` throws), the addressee must be
 * someone else in it (else FORBIDDEN). Membership is read on every relay, never cached: seats and
 * members change hands through REST, possibly on another instance, and a cached "yes" would relay
 * to someone who has left. Signals are low-rate, so correctness wins over a saved read.
 */
export const relay = {
  async signal(call: Call, callId: string, from: string, input: SignalInput): Promise<void> {
    const { to, type, payload } = input;
    const size = Buffer.byteLength(JSON.stringify(payload ?? null));
    if (size > SIGNAL_PAYLOAD_MAX_BYTES) {
      throw new ValidationError("The signal is too large", [
        { path: "data.payload", message: `must be at most ${SIGNAL_PAYLOAD_MAX_BYTES} bytes` },
      ]);
    }
    const members = await call.members(callId, from);
    if (to === from || !members.includes(to)) {
      throw new ForbiddenError("A signal goes only to someone else in the same call");
    }
    call.deliver(callId, [to], "signal", { [call.key]: callId, from, type, payload });
  },

  /** `toggle-media` to everyone else in the call. */
  async toggleMedia(
    call: Call,
    callId: string,
    from: string,
    { kind, enabled }: ToggleMediaInput,
  ): Promise<void> {
    const others = (await call.members(callId, from)).filter((id) => id !== from);
    call.deliver(callId, others, "toggle-media", {
      [call.key]: callId,
      userId: from,
      kind,
      enabled,
    });
  },
};
