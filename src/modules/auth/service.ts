import { RateLimitedError, UnauthorizedError } from "../../errors.ts";
import type { RateLimiter, RateRule } from "../../realtime/rate-limit.ts";
import type { PublicUser } from "../users/model.ts";
import { toUserJson, type UsersService } from "../users/service.ts";
import type { ClerkGateway } from "./clerk.ts";
import type { LoginBody, RegisterBody, Session } from "./model.ts";
import type { SignIns } from "./sign-ins.ts";
import type { BuiltInTokens, TokenClaims } from "./tokens.ts";

const HASH_OPTIONS = { algorithm: "argon2id" } as const;
const BAD_CREDENTIALS = "The email or password is incorrect";

export interface AuthServiceDeps {
  users: UsersService;
  tokens: BuiltInTokens;
  signIns: SignIns;
  clerk: ClerkGateway | null;
  /** Counts login attempts per email (across instances when Redis is configured). */
  limiter: RateLimiter;
}

/**
 * Password guessing against one account: ten tries at once, then one every ten seconds. Keyed by
 * email, not by address, since behind a load balancer every client shares one.
 */
const LOGIN_RULE: RateRule = { burst: 10, perSecond: 0.1 };

/** Built-in accounts (register, login, logout) and syncing a Clerk user on demand. */
export class AuthService {
  /**
   * Login for an unknown email verifies against this hash so it costs what a wrong password
   * costs: response time does not tell which emails have accounts.
   */
  private readonly dummyHash: Promise<string>;

  constructor(private readonly deps: AuthServiceDeps) {
    this.dummyHash = Bun.password.hash(crypto.randomUUID(), HASH_OPTIONS);
  }

  /** `body` is already trimmed, lowercased and validated by the route's schema. */
  async register(body: RegisterBody): Promise<Session> {
    const passwordHash = await Bun.password.hash(body.password, HASH_OPTIONS);
    const user = await this.deps.users.create({
      name: body.name,
      email: body.email,
      passwordHash,
      role: body.role,
    });
    return { user, token: await this.signIn(user._id) };
  }

  async login(body: LoginBody): Promise<Session> {
    if (!(await this.deps.limiter.take(`login:${body.email}`, LOGIN_RULE))) {
      throw new RateLimitedError(Math.ceil(1 / LOGIN_RULE.perSecond));
    }
    const account = await this.deps.users.findWithPassword(body.email);
    const hash = account?.passwordHash ?? (await this.dummyHash);
    const valid = await Bun.password.verify(body.password, hash);
    if (!account?.passwordHash || !valid) throw new UnauthorizedError(BAD_CREDENTIALS);
    const user = toUserJson(account);
    return { user, token: await this.signIn(user._id) };
  }

  /** A new sign-in session, and the token that names it. */
  private async signIn(userId: string): Promise<string> {
    const signIn = await this.deps.signIns.start(userId);
    return this.deps.tokens.sign(userId, signIn.id, signIn.expiresAt);
  }

  /**
   * Ends the sign-in session of a genuine, unexpired built-in token. Anything else (no token, a
   * forged or expired one, a Clerk token: Clerk ends its own sessions) has nothing to end here,
   * and logging out still succeeds.
   */
  async logout(token: string | undefined): Promise<void> {
    if (!token) return;
    let claims: TokenClaims;
    try {
      claims = await this.deps.tokens.verify(token);
    } catch {
      return;
    }
    await this.deps.signIns.end(claims.signInId, claims.userId);
  }

  /** Ends every sign-in session of the user: all their built-in tokens, on every device. */
  async logoutAll(userId: string): Promise<void> {
    await this.deps.signIns.endAll(userId);
  }

  async me(userId: string): Promise<PublicUser> {
    return this.deps.users.get(userId);
  }

  /**
   * Refreshes a Clerk user from Clerk's Backend API (UpstreamError when it fails). A built-in
   * user, or a server without `CLERK_SECRET_KEY`, has nothing to sync from: the stored user.
   */
  async syncFromClerk(userId: string, clerkId: string | undefined): Promise<PublicUser> {
    const clerk = this.deps.clerk;
    if (!clerkId || !clerk?.canReadUsers) return this.deps.users.get(userId);
    const profile = await clerk.fetchProfile(clerkId);
    return toUserJson(await this.deps.users.syncFromClerk(profile));
  }
}
