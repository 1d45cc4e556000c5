import { type Static, t } from "elysia";
import { ObjectIdString } from "../common/model.ts";

/** A `signal` payload (an SDP offer or answer, an ICE candidate), serialized. */
export const SIGNAL_PAYLOAD_MAX_BYTES = 32 * 1024;

/**
 * What a `signal` carries in any call, besides the call's id (`sessionId` or `roomId`): the
 * relay passes `payload` on untouched, to `to` only.
 */
export const signalFields = {
  to: ObjectIdString,
  type: t.Union([t.Literal("offer"), t.Literal("answer"), t.Literal("ice-candidate")]),
  payload: t.Unknown({ description: `Relayed as is; at most ${SIGNAL_PAYLOAD_MAX_BYTES} bytes` }),
};

/** What a `toggle-media` carries in any call, besides the call's id. */
export const toggleMediaFields = {
  kind: t.Union([t.Literal("audio"), t.Literal("video")]),
  enabled: t.Boolean(),
};

/** One ICE server, as `RTCPeerConnection`'s `iceServers` takes it. */
export const IceServer = t.Object(
  {
    urls: t.Array(t.String(), { description: "stun:, stuns:, turn: or turns: URLs" }),
    username: t.Optional(
      t.String({ description: "TURN only: `<expiry, unix seconds>:<userId>` (TURN REST API)" }),
    ),
    credential: t.Optional(
      t.String({ description: "TURN only: base64 HMAC-SHA1 of the username with the TURN secret" }),
    ),
  },
  { title: "IceServer" },
);
export type IceServer = Static<typeof IceServer>;

export const IceServersEnvelope = t.Object({
  iceServers: t.Array(IceServer),
  ttl: t.Integer({
    description: "Seconds the TURN credential stays valid; fetch again before it runs out",
  }),
});
export type IceServersEnvelope = Static<typeof IceServersEnvelope>;
