import { t } from "elysia";
import { socketFeature } from "../realtime/socket-feature.ts";
import { RoomSignalData, RoomToggleMediaData } from "../rooms/model.ts";
import { SignalData, ToggleMediaData } from "../sessions/model.ts";
import type { Call } from "./relay.ts";
import { relay } from "./relay.ts";

/**
 * WebRTC signaling on `/ws`, for every kind of call: the frame names its call by `sessionId` or
 * `roomId`, and the one relay does the rest with that kind's membership.
 */
export const callEvents = {
  signal: t.Union([SignalData, RoomSignalData]),
  "toggle-media": t.Union([ToggleMediaData, RoomToggleMediaData]),
};

export function callSocket(calls: { session: Call; room: Call }) {
  const callOf = (data: { sessionId: string } | { roomId: string }): [Call, string] =>
    "sessionId" in data ? [calls.session, data.sessionId] : [calls.room, data.roomId];

  return socketFeature({
    events: callEvents,
    async handle(socket, frame) {
      const [call, callId] = callOf(frame.data);
      switch (frame.event) {
        case "signal":
          await relay.signal(call, callId, socket.user.id, frame.data);
          return;
        case "toggle-media":
          await relay.toggleMedia(call, callId, socket.user.id, frame.data);
          return;
      }
    },
  });
}
