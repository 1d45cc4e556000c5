import { type Static, t } from "elysia";
import { ObjectIdString } from "../common/model.ts";
import { SendBody } from "../messages/model.ts";
import { CodeUpdateData, SignalData, ToggleMediaData } from "../sessions/model.ts";

const Ref = t.Optional(t.String({ maxLength: 100 }));

/** Every frame a client may send, one member per event. Validation, types and docs come from here. */
export const clientEvents = {
  "join-chat": t.Union([
    ObjectIdString,
    t.Object({ chatId: ObjectIdString, after: t.Optional(t.Integer({ minimum: 0 })) }),
  ]),
  "leave-chat": ObjectIdString,
  "send-message": t.Object({ chatId: ObjectIdString, ...SendBody.properties }),
  typing: t.Object({ chatId: ObjectIdString, isTyping: t.Boolean() }),
  "mark-read": t.Object({ chatId: ObjectIdString, seq: t.Integer({ minimum: 0 }) }),
  ping: t.Optional(t.Unknown()),
  "join-session": ObjectIdString,
  "leave-session": ObjectIdString,
  signal: SignalData,
  "toggle-media": ToggleMediaData,
  "code-update": CodeUpdateData,
} as const;

type ClientEvents = typeof clientEvents;
export type ClientEventName = keyof ClientEvents;

function member<E extends ClientEventName>(event: E) {
  return t.Object({ event: t.Literal(event), data: clientEvents[event], ref: Ref });
}

export const ClientFrame = t.Union([
  member("join-chat"),
  member("leave-chat"),
  member("send-message"),
  member("typing"),
  member("mark-read"),
  member("ping"),
  member("join-session"),
  member("leave-session"),
  member("signal"),
  member("toggle-media"),
  member("code-update"),
]);
export type ClientFrame = Static<typeof ClientFrame>;

export function isClientEvent(event: unknown): event is ClientEventName {
  return typeof event === "string" && Object.hasOwn(clientEvents, event);
}
