import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { Clock } from "../../clock.ts";
import { UnauthorizedError } from "../../errors.ts";

export const TOKEN_TTL_SECONDS = 7 * 24 * 60 * 60;
const ISSUER = "interview-chat-server";

/** The server's own tokens: HS256 JWTs whose `sub` is the user id, valid for seven days. */
export class BuiltInTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly clock: Clock,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async sign(userId: string): Promise<string> {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + TOKEN_TTL_SECONDS)
      .sign(this.key);
  }

  /** The user id the token was issued to; UnauthorizedError when it is expired or forged. */
  async verify(token: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        currentDate: this.clock.now(),
      });
      if (typeof payload.sub !== "string" || payload.sub === "") throw new UnauthorizedError();
      return payload.sub;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new UnauthorizedError("Your session has expired; sign in again");
      }
      throw new UnauthorizedError("The token is invalid");
    }
  }
}
