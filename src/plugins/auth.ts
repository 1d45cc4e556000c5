import { Elysia } from "elysia";
import { decodeProtectedHeader } from "jose";
import { UnauthorizedError } from "../errors.ts";
import type { ClerkGateway } from "../modules/auth/clerk.ts";
import { profileFromClaims } from "../modules/auth/clerk.ts";
import type { SignIns } from "../modules/auth/sign-ins.ts";
import type { BuiltInTokens } from "../modules/auth/tokens.ts";
import type { StoredUser, UsersService } from "../modules/users/service.ts";
import type { Logger } from "./logger.ts";

/** Who is calling, as every module sees it, REST and WebSocket alike. */
export interface AuthUser {
  id: string;
  name: string;
  email: string;
  avatar: string;
  clerkId?: string;
  /** The sign-in session of a built-in token (its `sid`); none for a Clerk token. */
  signInId?: string;
}

export const TOKEN_COOKIE = "token";

function toAuthUser(user: StoredUser): AuthUser {
  const auth: AuthUser = {
    id: String(user._id),
    name: user.name,
    email: user.email ?? "",
    avatar: user.avatar ?? "",
  };
  if (user.clerkId) auth.clerkId = user.clerkId;
  return auth;
}

function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * `?token=` is honoured only on a WebSocket upgrade (browsers cannot set upgrade headers):
 * anywhere else a token in a URL would end up in histories and proxy logs.
 */
function queryToken(request: Request): string | undefined {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return undefined;
  return new URL(request.url).searchParams.get("token") || undefined;
}

/**
 * The caller's token: from `Authorization: Bearer`, else `?token=` on an upgrade, else the `token`
 * cookie. A token the client names itself comes before the cookie, which the browser (or a native
 * app's cookie jar) sends on its own.
 */
export function tokenFromRequest(request: Request): string | undefined {
  const authorization = request.headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match?.[1];
  }
  return queryToken(request) ?? cookieValue(request.headers.get("cookie"), TOKEN_COOKIE);
}

/** True when the token is the cookie: a credential the browser sends on its own, from any page. */
export function isCookieAuthenticated(request: Request): boolean {
  if (request.headers.get("authorization") || queryToken(request) !== undefined) return false;
  return cookieValue(request.headers.get("cookie"), TOKEN_COOKIE) !== undefined;
}

export interface AuthenticatorDeps {
  tokens: BuiltInTokens;
  /** A built-in token is good only while its sign-in session stands. */
  signIns: Pick<SignIns, "isActive">;
  /** Null when Clerk is not configured. */
  clerk: ClerkGateway | null;
  users: UsersService;
  log: Logger;
}

/**
 * Turns a token into the user behind it. Built-in tokens are HS256, Clerk session tokens RS256:
 * the header's `alg` says which verifier a token goes to, so neither verifier sees the other's
 * tokens and a token never gets two chances.
 */
export class Authenticator {
  /** First sightings in progress, so concurrent first requests ask Clerk's API only once. */
  private readonly provisioning = new Map<string, Promise<StoredUser>>();

  constructor(private readonly deps: AuthenticatorDeps) {}

  /** The user behind `token`; UnauthorizedError when it is missing, expired, forged or orphaned. */
  async authenticate(token: string): Promise<AuthUser> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new UnauthorizedError("The token is invalid");
    }
    if (alg === "HS256") return this.builtIn(token);
    if (alg === "RS256" && this.deps.clerk) return this.clerk(this.deps.clerk, token);
    throw new UnauthorizedError("The token is invalid");
  }

  /**
   * A built-in token needs its sign-in session to stand (see SignIns, which reads it alongside
   * the user, so it adds no round trip, and remembers it for a few seconds).
   */
  private async builtIn(token: string): Promise<AuthUser> {
    const { userId, signInId } = await this.deps.tokens.verify(token);
    const [user, signedIn] = await Promise.all([
      this.deps.users.findById(userId),
      this.deps.signIns.isActive(signInId, userId),
    ]);
    if (!user) throw new UnauthorizedError("The account behind this token no longer exists");
    if (!signedIn) throw new UnauthorizedError("This sign-in has ended; sign in again");
    return { ...toAuthUser(user), signInId };
  }

  private async clerk(clerk: ClerkGateway, token: string): Promise<AuthUser> {
    const claims = await clerk.verifySessionToken(token);
    const known = await this.deps.users.findByClerkId(claims.sub);
    if (known) return toAuthUser(known);

    let pending = this.provisioning.get(claims.sub);
    if (!pending) {
      pending = this.provision(clerk, claims.sub, profileFromClaims(claims)).finally(() =>
        this.provisioning.delete(claims.sub),
      );
      this.provisioning.set(claims.sub, pending);
    }
    return toAuthUser(await pending);
  }

  /** First sight of a Clerk user: Clerk's API when it answers, else the token's own claims. */
  private async provision(
    clerk: ClerkGateway,
    clerkId: string,
    fromClaims: ReturnType<typeof profileFromClaims>,
  ): Promise<StoredUser> {
    let profile = fromClaims;
    if (clerk.canReadUsers) {
      try {
        const fromApi = await clerk.fetchProfile(clerkId);
        profile = {
          clerkId,
          email: fromApi.email ?? fromClaims.email,
          name: fromApi.name ?? fromClaims.name,
          avatar: fromApi.avatar ?? fromClaims.avatar,
        };
      } catch {
        this.deps.log.warn(
          { clerkId },
          "Clerk's user API did not answer; provisioning from claims",
        );
      }
    }
    return this.deps.users.provisionFromClerk(profile);
  }
}

/**
 * The one auth plugin. Routes opt in with `{ auth: true }` and get `user` in their context;
 * a missing or bad token is a 401 before the handler runs. The token is checked in `transform`,
 * which runs before schema validation, so an anonymous request with a bad body is told 401 (who
 * are you?) rather than 400; `resolve` then hands over the user (checking the token itself where
 * no transform ran, as on a WebSocket upgrade).
 */
export function authPlugin(authenticator: Authenticator) {
  const callers = new WeakMap<Request, AuthUser>();
  const authenticate = (request: Request) => {
    const token = tokenFromRequest(request);
    if (!token) throw new UnauthorizedError("Authentication required");
    return authenticator.authenticate(token);
  };
  return new Elysia({ name: "auth" }).macro({
    auth: {
      async transform({ request }) {
        callers.set(request, await authenticate(request));
      },
      async resolve({ request }) {
        return { user: callers.get(request) ?? (await authenticate(request)) };
      },
    },
  });
}

export type AuthPlugin = ReturnType<typeof authPlugin>;
