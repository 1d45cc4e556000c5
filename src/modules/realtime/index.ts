import { Elysia, t } from "elysia";
import { BadRequestError, ForbiddenError } from "../../errors.ts";
import { type AuthPlugin, type AuthUser, isCookieAuthenticated } from "../../plugins/auth.ts";
import { trustedOrigin } from "../../plugins/csrf.ts";
import type { Connection, RealtimeGateway } from "./gateway.ts";

export interface RealtimeModuleDeps {
  auth: AuthPlugin;
  gateway: RealtimeGateway;
  /** The configured CORS origins; `*` allows any. */
  allowedOrigins: string[];
}

/** What a socket carries: its user, and the handlers Elysia's server-wide `websocket` calls. */
interface SocketData {
  user: AuthUser;
  open(ws: SocketOf): void;
  message(ws: SocketOf, message: string | Buffer): void;
  close(ws: SocketOf): void;
}
/** Bun's ServerWebSocket; its typings omit getBufferedAmount, which the runtime has. */
type SocketOf = Connection & { data: SocketData };

/**
 * `/ws` on Bun's native WebSocket. The auth plugin refuses the upgrade with HTTP 401 unless the
 * token is good; after that every frame goes to the gateway.
 *
 * The upgrade is Bun's own (`server.upgrade`), not Elysia's `.ws()`: that keeps a copy of the whole
 * request context and eight closures with every socket, and builds a wrapper with fifteen bound
 * methods for every frame; here a socket holds its user and references to three handlers shared
 * by all (Elysia's server-wide `websocket` calls `ws.data.open`, `message` and `close`). Frames
 * arrive as text and the gateway parses them itself, so the 64 KiB rule measures what arrived.
 *
 * Browsers send the cookie with an upgrade from any page, and WebSockets have no CORS, so a socket
 * authenticated by the cookie alone must come from a trusted origin (plugins/csrf.ts), else 403:
 * otherwise any site a user visits could open their chats. Browsers always send an Origin with an
 * upgrade, so a cookie with none is refused too. An explicit token (header or `?token=`) is no
 * such ambient credential, and native clients send no Origin at all.
 *
 * Each socket keeps the sign-in session it was opened with: logging out closes it (1008) on every
 * instance, through the hub's control topic (see RealtimeGateway.control).
 */
export function realtimeModule({ auth, gateway, allowedOrigins }: RealtimeModuleDeps) {
  const trusted = trustedOrigin(allowedOrigins);
  const handlers: Omit<SocketData, "user"> = {
    open: (ws) => void gateway.open(ws, ws.data.user, ws.data.user.signInId),
    message: (ws, message) => void gateway.message(ws, message),
    close: (ws) => void gateway.close(ws),
  };
  return new Elysia({ name: "realtime" }).use(auth).get(
    "/ws",
    ({ request, server, user, set }) => {
      if (isCookieAuthenticated(request) && !trusted(request)) {
        throw new ForbiddenError("This page may not open a socket with the session cookie");
      }
      const data: SocketData = { user, ...handlers };
      const headers = set.headers as Record<string, string>;
      if (!server?.upgrade(request, { data, headers })) {
        throw new BadRequestError("Expected a WebSocket upgrade", "VALIDATION");
      }
      // Bun answers the upgrade itself (101); nothing more to send.
      return undefined;
    },
    {
      auth: true,
      query: t.Object({ token: t.Optional(t.String()) }),
      detail: {
        tags: ["realtime"],
        summary: "The WebSocket: 101 with a good token, else 401 (403 for a cross-site cookie)",
      },
    },
  );
}
