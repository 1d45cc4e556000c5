import type { TLiteral, TObject, TOptional, TString, TUnion } from "@sinclair/typebox";
import { type Static, t } from "elysia";
import { callEvents } from "../calls/socket.ts";
import { chatEvents } from "../chats/socket.ts";
import { roomEvents } from "../rooms/socket.ts";
import { sessionEvents } from "../sessions/socket.ts";

const Ref = t.Optional(t.String({ maxLength: 100 }));

/** The gateway's own: a liveness check any client may send. */
export const gatewayEvents = {
  ping: t.Optional(t.Unknown()),
};

/**
 * Every event a client may send, composed from the features that own them (each feature's
 * `socket.ts`). Validation, types and docs come from here. The gateway refuses to start unless
 * each of these has exactly one registered feature.
 */
export const clientEvents = {
  ...gatewayEvents,
  ...chatEvents,
  ...sessionEvents,
  ...roomEvents,
  ...callEvents,
};

type ClientEvents = typeof clientEvents;
export type ClientEventName = keyof ClientEvents & string;

/** One member of the frame union: `{ event, data, ref? }` for one event. */
type FrameSchema<Event extends ClientEventName> = TObject<{
  event: TLiteral<Event>;
  data: ClientEvents[Event];
  ref: TOptional<TString>;
}>;

function member<Event extends ClientEventName>(event: Event): FrameSchema<Event> {
  return t.Object({ event: t.Literal(event), data: clientEvents[event], ref: Ref }) as never;
}

export const ClientFrame = t.Union(
  (Object.keys(clientEvents) as ClientEventName[]).map(member),
) as TUnion<{ [Event in ClientEventName]: FrameSchema<Event> }[ClientEventName][]>;
export type ClientFrame = Static<typeof ClientFrame>;

export function isClientEvent(event: unknown): event is ClientEventName {
  return typeof event === "string" && Object.hasOwn(clientEvents, event);
}
