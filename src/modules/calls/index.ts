import { Elysia } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, withErrors } from "../common/model.ts";
import type { IceServers } from "./ice-servers.ts";
import { IceServersEnvelope } from "./model.ts";

export interface CallsModuleDeps {
  auth: AuthPlugin;
  iceServers: IceServers;
}

/** What every call needs over REST, whether a session's or a room's: the ICE servers. */
export function callsModule({ auth, iceServers }: CallsModuleDeps) {
  return new Elysia({ name: "calls", prefix: "/api/call", detail: { tags: ["calls"] } })
    .use(auth)
    .get("/ice-servers", ({ user }) => iceServers.for(user.id), {
      auth: true,
      response: withErrors(IceServersEnvelope, AUTHENTICATED),
      detail: {
        summary: "ICE servers for a call (STUN, and TURN with a credential of the caller's own)",
        description:
          "For interview sessions and rooms alike. TURN credentials follow the TURN REST API " +
          "scheme (username `<expiry>:<userId>`, credential base64 HMAC-SHA1 of it with " +
          "TURN_SECRET) and stay valid `ttl` seconds: fetch again before then. " +
          "`{ iceServers: [], ttl }` when none are configured.",
      },
    });
}
