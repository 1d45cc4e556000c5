import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import type { Connection, RealtimeGateway } from "./gateway.ts";

/** Bun's ServerWebSocket; its typings omit getBufferedAmount, which the runtime has. */
const connectionOf = (ws: { raw: unknown }) => ws.raw as Connection;

/**
 * `/ws` on Bun's native WebSocket through Elysia's `.ws()`. The auth plugin refuses the upgrade
 * with HTTP 401 unless the token is good; after that every frame goes to the gateway.
 */
export function realtimeModule({ auth, gateway }: { auth: AuthPlugin; gateway: RealtimeGateway }) {
  return new Elysia({ name: "realtime" }).use(auth).ws("/ws", {
    auth: true,
    query: t.Object({ token: t.Optional(t.String()) }),
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
