import type { Clock } from "../../clock.ts";
import type { Models } from "../../db/models/index.ts";
import { type ControlInstruction, type Hub, readControl } from "../../realtime/hub.ts";
import { TOKEN_TTL_SECONDS } from "./tokens.ts";

/**
 * How long an instance trusts a sign-in it found standing without reading it again. Logout tells
 * every instance at once through the hub; this bounds what an instance that missed the message
 * (Redis down) may still accept.
 */
export const SIGN_IN_TRUST_MS = 5000;
/** Standing sign-ins remembered per instance; the oldest are forgotten first. */
const REMEMBERED_LIMIT = 10_000;

export interface SignInsDeps {
  model: Models["SignIn"];
  /** Tells every instance about an ended sign-in: its sockets close, its standing is forgotten. */
  hub: Hub;
  clock: Clock;
}

/** A sign-in session just started: the token issued for it carries `id` as its `sid`. */
export interface StartedSignIn {
  id: string;
  expiresAt: Date;
}

interface Standing {
  userId: string;
  /** `performance.now()` until which it is trusted without a read. */
  until: number;
}

/**
 * Sign-in sessions of built-in accounts (db/models/sign-in.ts): started by register and login,
 * ended by logout and logout-all. The database is the truth every instance shares. A sign-in
 * found standing is remembered for SIGN_IN_TRUST_MS, so a busy client costs one read per few
 * seconds rather than one per request; ending a sign-in forgets it here at once and, through the
 * hub's control topic, on every other instance within milliseconds (see `control`). With Redis
 * down the message reaches this instance only, and the others may accept the token for up to
 * SIGN_IN_TRUST_MS more; its sockets there stay open until Redis is back, when every instance
 * closes its sockets (1012) and a revoked token cannot reconnect.
 */
export class SignIns {
  private readonly standing = new Map<string, Standing>();
  /**
   * Counts ends heard of. A read that began before an end may have seen the sign-in still
   * standing; it must not be remembered as standing after the end was heard.
   */
  private ends = 0;

  constructor(private readonly deps: SignInsDeps) {}

  async start(userId: string): Promise<StartedSignIn> {
    const expiresAt = new Date(this.deps.clock.now().getTime() + TOKEN_TTL_SECONDS * 1000);
    const signIn = await this.deps.model.create({ user: userId, expiresAt });
    return { id: String(signIn._id), expiresAt };
  }

  /** True while the sign-in exists, belongs to `userId` and has not expired. */
  async isActive(signInId: string, userId: string): Promise<boolean> {
    const known = this.standing.get(signInId);
    if (known && known.userId === userId && known.until > performance.now()) return true;
    const endsBefore = this.ends;
    const found = await this.deps.model.exists({
      _id: signInId,
      user: userId,
      expiresAt: { $gt: this.deps.clock.now() },
    });
    if (found && endsBefore === this.ends) this.remember(signInId, userId);
    return found !== null;
  }

  /** Ends one sign-in (logout): its token is refused from now on and its sockets close. */
  async end(signInId: string, userId: string): Promise<void> {
    const { deletedCount } = await this.deps.model.deleteOne({ _id: signInId, user: userId });
    // Forgotten here before the answer goes out, whatever the broker does.
    this.forget({ revokeSignIn: signInId });
    if (deletedCount > 0) this.deps.hub.revokeSignIn(signInId);
  }

  /** Ends every sign-in of the user (logout-all). */
  async endAll(userId: string): Promise<void> {
    const { deletedCount } = await this.deps.model.deleteMany({ user: userId });
    this.forget({ revokeSignInsOf: userId });
    if (deletedCount > 0) this.deps.hub.revokeSignInsOf(userId);
  }

  /** Hears the hub's control topic: an end on any instance is forgotten here too. */
  control(message: string): void {
    const instruction = readControl(message);
    if (instruction) this.forget(instruction);
  }

  private forget({ revokeSignIn, revokeSignInsOf }: ControlInstruction): void {
    if (revokeSignIn === undefined && revokeSignInsOf === undefined) return;
    this.ends++;
    if (revokeSignIn !== undefined) this.standing.delete(revokeSignIn);
    if (revokeSignInsOf === undefined) return;
    for (const [signInId, { userId }] of this.standing) {
      if (userId === revokeSignInsOf) this.standing.delete(signInId);
    }
  }

  private remember(signInId: string, userId: string): void {
    this.standing.delete(signInId);
    this.standing.set(signInId, { userId, until: performance.now() + SIGN_IN_TRUST_MS });
    if (this.standing.size > REMEMBERED_LIMIT) {
      const oldest = this.standing.keys().next().value;
      if (oldest !== undefined) this.standing.delete(oldest);
    }
  }
}
