import { createHmac } from "node:crypto";
import type { Clock } from "../../clock.ts";
import type { IceConfig } from "../../config.ts";
import type { IceServer, IceServersEnvelope } from "./model.ts";

/**
 * The ICE servers a caller hands to `RTCPeerConnection`, for sessions and rooms alike: the STUN
 * servers as configured, and the TURN servers with a credential of the caller's own by the TURN
 * REST API scheme, which coturn checks with `use-auth-secret`: the username is
 * `<expiry, unix seconds>:<userId>` and the credential the base64 HMAC-SHA1 of that username keyed
 * with the shared secret. The TURN server needs no user database and refuses the credential once
 * it has expired; the user id in it names whoever relays, in the TURN server's logs.
 */
export class IceServers {
  constructor(
    private readonly config: IceConfig,
    private readonly clock: Clock,
  ) {}

  for(userId: string): IceServersEnvelope {
    const { stunUrls, turn, ttlSeconds } = this.config;
    const iceServers: IceServer[] = [];
    if (stunUrls.length > 0) iceServers.push({ urls: stunUrls });
    if (turn) {
      const expiresAt = Math.floor(this.clock.now().getTime() / 1000) + ttlSeconds;
      const username = `${expiresAt}:${userId}`;
      const credential = createHmac("sha1", turn.secret).update(username).digest("base64");
      iceServers.push({ urls: turn.urls, username, credential });
    }
    return { iceServers, ttl: ttlSeconds };
  }
}
