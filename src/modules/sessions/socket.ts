import type { Hub } from "../../realtime/hub.ts";
import { topics } from "../../realtime/topics.ts";
import type { Call } from "../calls/relay.ts";
import { ObjectIdString } from "../common/model.ts";
import { type Socket, socketFeature } from "../realtime/socket-feature.ts";
import type { SessionEditor } from "./editor.ts";
import { CodeUpdateData } from "./model.ts";
import type { SessionMembership, SessionService } from "./service.ts";

/**
 * An interview session on `/ws`: joining it (which subscribes the socket to the session's topic
 * for its user), leaving it, and the shared editor. `signal` and `toggle-media` belong to the call
 * relay (modules/calls), which sessions share with rooms through `sessionCall` below.
 */
export const sessionEvents = {
  "join-session": ObjectIdString,
  "leave-session": ObjectIdString,
  "code-update": CodeUpdateData,
};

export function sessionSocket(sessions: SessionService, editor: SessionEditor) {
  /**
   * Sessions each socket joined, with who was in them when last read. Only a hint for peer-left:
   * a session's seat changes hands, so relays check the stored session every time.
   */
  const joined = new Map<Socket, Map<string, SessionMembership>>();

  /** `peer-left` to the others in a session this socket had joined, as stored now. */
  async function leave(socket: Socket, sessionId: string): Promise<void> {
    const known = joined.get(socket)?.get(sessionId);
    if (!known) return;
    joined.get(socket)?.delete(sessionId);
    // A participant who has left through REST is no longer a member: the last known host hears it.
    const membership = await sessions.membership(sessionId, socket.user.id).catch(() => known);
    sessions.announcePeer(membership, socket.user.id, "peer-left");
  }

  return socketFeature({
    events: sessionEvents,
    async handle(socket, frame) {
      const { user } = socket;
      switch (frame.event) {
        case "join-session": {
          // A scheduled session may be joined too: its two sides gather before the host starts it.
          const membership = await sessions.openMembership(frame.data, user.id);
          const mine = joined.get(socket) ?? new Map<string, SessionMembership>();
          joined.set(socket, mine);
          mine.set(frame.data, membership);
          socket.subscribe(topics.session(frame.data, user.id));
          socket.send("session-joined", { sessionId: frame.data }, frame.ref);
          sessions.announcePeer(membership, user.id, "peer-joined");
          return;
        }
        case "leave-session":
          socket.unsubscribe(topics.session(frame.data, user.id));
          await leave(socket, frame.data);
          return;
        case "code-update": {
          const { sessionId, version } = frame.data;
          await editor.updateCode(user.id, frame.data);
          socket.send("code-accepted", { sessionId, version }, frame.ref);
          return;
        }
      }
    },
    /** A socket that closes is a `peer-left` for every session it had joined. */
    async closed(socket) {
      for (const sessionId of [...(joined.get(socket)?.keys() ?? [])])
        await leave(socket, sessionId);
      joined.delete(socket);
    },
  });
}

/**
 * A session as the call relay sees it: the host and the participant of an active session, and
 * their sockets that joined it. Anyone else gets NOT_FOUND; a session that is not active the code
 * of its status (SESSION_NOT_STARTED, SESSION_COMPLETED, SESSION_CANCELLED).
 */
export function sessionCall(sessions: SessionService, hub: Hub): Call {
  return {
    key: "sessionId",
    async members(sessionId, userId) {
      const { hostId, participantId } = await sessions.activeMembership(sessionId, userId);
      return participantId === null ? [hostId] : [hostId, participantId];
    },
    deliver: (sessionId, userIds, event, data) => hub.toSession(sessionId, userIds, event, data),
  };
}
