/**
 * The client SDK (`<package>/client`): REST through Eden's treaty and the realtime socket with
 * the contract's delivery guarantees, for the web app, the Expo app and Bun alike. It uses only
 * `fetch`, `WebSocket` and timers.
 */
export type { Api } from "./api.ts";
export type { TokenSource } from "./auth.ts";
export type { BackoffOptions } from "./backoff.ts";
export { Backoff } from "./backoff.ts";
export type { CallChannel, CallEvents } from "./call.ts";
export type { ChangeAccepted } from "./changes.ts";
export type { ChatChannel, ChatEvents } from "./chat.ts";
export {
  Client,
  type ClientEvents,
  type ClientOptions,
  createClient,
  type PresenceChange,
} from "./client.ts";
export type { OutboxEntry } from "./outbox.ts";
export type { RoomChannel, RoomEvents } from "./room.ts";
export type { Rebase, SessionChannel, SessionEvents } from "./session.ts";
export * from "./types.ts";
