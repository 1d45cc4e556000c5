import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Clock } from "../../clock.ts";
import { UnauthorizedError } from "../../errors.ts";

export const TOKEN_TTL_SECONDS = 7 * 24 * 60 * 60;
const ISSUER = "interview-chat-server";
/** Sign-in ids are the database's ObjectIds. */
const SIGN_IN_ID = /^[0-9a-f]{24}$/;

/** Who a built-in token was issued to, and in which sign-in session. */
export interface TokenClaims {
  userId: string;
  /** The `sid` claim: the sign-in session the token belongs to (see db/models/sign-in.ts). */
  signInId: string;
}

/**
 * The server's own tokens: HS256 JWTs whose `sub` is the user id and `sid` the sign-in session,
 * valid for seven days. A token is only as good as its sign-in session: see SignIns.
 */
export class BuiltInTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly clock: Clock,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  /** `expiresAt` is the sign-in session's, so the token and its session end together. */
  async sign(userId: string, signInId: string, expiresAt: Date): Promise<string> {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    return new SignJWT({ sid: signInId })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key);
  }

  /**
   * The claims of a genuine, unexpired token; UnauthorizedError when it is expired or forged, or
   * was issued before sign-in sessions existed (no `sid`: it could never be revoked).
   */
  async verify(token: string): Promise<TokenClaims> {
    let claims: { sub?: unknown; sid?: unknown };
    try {
      ({ payload: claims } = await jwtVerify(token, this.key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        currentDate: this.clock.now(),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new UnauthorizedError("Your session has expired; sign in again");
      }
      throw new UnauthorizedError("The token is invalid");
    }
    if (typeof claims.sub !== "string" || claims.sub === "") {
      throw new UnauthorizedError("The token is invalid");
    }
    if (typeof claims.sid !== "string" || !SIGN_IN_ID.test(claims.sid)) {
      throw new UnauthorizedError("This token is from before sign-in sessions; sign in again");
    }
    return { userId: claims.sub, signInId: claims.sid };
  }
}
