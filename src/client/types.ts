/**
 * The SDK's public types. Where the server has a TypeBox schema, the type is that schema's
 * `Static` (type-only imports: nothing of the server ends up in a bundle). The rest are the
 * contract's words for what the server sends without a schema of its own.
 */
import type { Static } from "@sinclair/typebox";
import type { Chat as ChatSchema } from "../modules/chats/model.ts";
import type { ErrorBody as ErrorBodySchema } from "../modules/common/model.ts";
import type { Message as MessageSchema } from "../modules/messages/model.ts";
import type { MessageDeletedJson } from "../modules/messages/serialize.ts";
import type { clientEvents } from "../modules/realtime/events.ts";
import type {
  SessionCode as SessionCodeSchema,
  Session as SessionSchema,
  SignalData,
  ToggleMediaData,
} from "../modules/sessions/model.ts";

export type Message = Static<typeof MessageSchema>;
export type Chat = Static<typeof ChatSchema>;
export type Session = Static<typeof SessionSchema>;
export type SessionCode = Static<typeof SessionCodeSchema>;
export type ErrorBody = Static<typeof ErrorBodySchema>;

type ClientData<E extends keyof typeof clientEvents> = Static<(typeof clientEvents)[E]>;
export type TypingData = ClientData<"typing">;

/** `typing` as the other participant's sockets get it. */
export type Typing = TypingData & { userId: string };
/** `chat-read`: the other participant's read mark moved. */
export type ChatRead = { chatId: string; userId: string; seq: number };
/** `message-deleted`: what is left to say of a deleted message (the server's MessageDeletedJson). */
export type MessageDeleted = MessageDeletedJson;

/** A relayed WebRTC signal, as the recipient gets it. */
export type Signal = Omit<SignalData, "sessionId" | "to"> & { from: string };
export type SignalType = SignalData["type"];
export type MediaKind = ToggleMediaData["kind"];
/** `toggle-media` as the other side gets it. */
export type MediaState = { userId: string; kind: MediaKind; enabled: boolean };
/** `code-update` as the other side gets it. */
export type CodeUpdate = SessionCode & { userId: string };

/** A call room's member as `room-users` lists them (the contract's "Call rooms"). */
export type RoomUser = { userId: string; name: string };

export type Status = "connecting" | "open" | "reconnecting" | "closed";

/** Where unsent messages outlive a restart: localStorage, AsyncStorage, or anything alike. */
export interface Storage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/** The server's error, from a `socket-error` frame or a REST answer, or the SDK's own. */
export class ClientError extends Error {
  readonly code: string;
  /** Seconds to wait before trying again (RATE_LIMITED, UNAVAILABLE). */
  readonly retryAfter: number | undefined;
  /** The rest of the body: `errors` for VALIDATION, the stored code for a CONFLICT, … */
  readonly body: Record<string, unknown>;

  constructor(body: { message?: unknown; code?: unknown; retryAfter?: unknown }) {
    super(typeof body.message === "string" ? body.message : "Request failed");
    this.name = "ClientError";
    this.code = typeof body.code === "string" ? body.code : "INTERNAL";
    this.retryAfter = typeof body.retryAfter === "number" ? body.retryAfter : undefined;
    this.body = body as Record<string, unknown>;
  }
}
