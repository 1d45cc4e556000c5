import type { Static, TSchema } from "@sinclair/typebox";
import type { ControlInstruction } from "../../realtime/hub.ts";
import type { Sender } from "../messages/service.ts";

/**
 * How a feature takes part in `/ws` (the Phoenix channel idea): it names its client events with
 * their schemas, handles them, and gives back what a closing socket held. The gateway only
 * authenticates, validates a frame against the one union of client events (events.ts), and routes
 * it to the feature that owns the event; a feature's socket behaviour lives in its own folder,
 * `modules/<feature>/socket.ts`, next to its routes.
 */

/** One socket, as a feature sees it. Features keep what they know about it in their own maps. */
export interface Socket {
  readonly user: Sender;
  /** `ref` is the client's id of the frame being answered, echoed back when given. */
  send(event: string, data: unknown, ref?: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** A feature's client events: the event name and the schema of its `data`. */
export type EventSchemas = Record<string, TSchema>;

/** A frame of one of these events, validated. */
export type FrameOf<Events extends EventSchemas> = {
  [Event in keyof Events & string]: { event: Event; data: Static<Events[Event]>; ref?: string };
}[keyof Events & string];

export interface SocketFeature<Events extends EventSchemas = EventSchemas> {
  readonly events: Events;
  /**
   * Events that can be handled with the database out of reach; the others get `UNAVAILABLE` at
   * once while it is (frames are handled one at a time, and one waiting out the driver would
   * hold up the rest).
   */
  readonly withoutDatabase?: readonly (keyof Events & string)[];
  handle(socket: Socket, frame: FrameOf<Events>): Promise<void>;
  /** The socket closed: tell whoever should know, give back what it held. */
  closed?(socket: Socket): Promise<void>;
  /** An instruction from any instance on the control topic (see Hub). */
  control?(instruction: ControlInstruction): void;
}

/**
 * Any feature, as the gateway holds them: the events' types erased. (A `SocketFeature<Events>`
 * is one; the generic form is for writing a feature, with the frame types flowing.)
 */
export interface AnySocketFeature {
  readonly events: EventSchemas;
  readonly withoutDatabase?: readonly string[];
  handle(socket: Socket, frame: { event: string; data?: unknown; ref?: string }): Promise<void>;
  closed?(socket: Socket): Promise<void>;
  control?(instruction: ControlInstruction): void;
}

/** Declares a feature with its event types flowing into its handler. */
export function socketFeature<const Events extends EventSchemas>(
  feature: SocketFeature<Events>,
): SocketFeature<Events> {
  return feature;
}
