import { Elysia, t } from "elysia";
import { ForbiddenError } from "../../errors.ts";
import { type AuthPlugin, isCookieAuthenticated } from "../../plugins/auth.ts";
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
 * authenticated by the cookie alone must come from an allowed origin (else 403): otherwise any
 * site a user visits could open their chats. An explicit token (header or `?token=`) is no such
 * ambient credential, and native clients send no Origin at all.
 */
export function realtimeModule({ auth, gateway, allowedOrigins }: RealtimeModuleDeps) {
  const anyOrigin = allowedOrigins.includes("*");
  return new Elysia({ name: "realtime" }).use(auth).ws("/ws", {
    auth: true,
    query: t.Object({ token: t.Optional(t.String()) }),
    beforeHandle({ request }) {
      const origin = request.headers.get("origin");
      if (anyOrigin || !origin || !isCookieAuthenticated(request)) return;
      if (!allowedOrigins.includes(origin)) {
        throw new ForbiddenError("This page may not open a socket with the session cookie");
      }
    },
    open(ws) {
      return gateway.open(connectionOf(ws), ws.data.user);
    },
    message(ws, message) {
      return gateway.message(connectionOf(ws), message);
    },
    close(ws) {
      return gateway.close(connectionOf(ws));
    },
  });
}
