import { Elysia, t } from "elysia";
import { ForbiddenError } from "../../errors.ts";
import { type AuthPlugin, isCookieAuthenticated } from "../../plugins/auth.ts";
import { trustedOrigin } from "../../plugins/csrf.ts";
import type { Connection, RealtimeGateway } from "./gateway.ts";

/** Bun's ServerWebSocket; its typings omit getBufferedAmount, which the runtime has. */
const connectionOf = (ws: { raw: unknown }) => ws.raw as Connection;

export interface RealtimeModuleDeps {
  auth: AuthPlugin;
  gateway: RealtimeGateway;
  /** The configured CORS origins; `*` allows any. */
  allowedOrigins: string[];
}

/**
 * `/ws` on Bun's native WebSocket through Elysia's `.ws()`. The auth plugin refuses the upgrade
 * with HTTP 401 unless the token is good; after that every frame goes to the gateway.
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
  return new Elysia({ name: "realtime" }).use(auth).ws("/ws", {
    auth: true,
    query: t.Object({ token: t.Optional(t.String()) }),
    beforeHandle({ request }) {
      if (isCookieAuthenticated(request) && !trusted(request)) {
        throw new ForbiddenError("This page may not open a socket with the session cookie");
      }
    },
    open(ws) {
      return gateway.open(connectionOf(ws), ws.data.user, ws.data.user.signInId);
    },
    message(ws, message) {
      return gateway.message(connectionOf(ws), message);
    },
    close(ws) {
      return gateway.close(connectionOf(ws));
    },
  });
}
