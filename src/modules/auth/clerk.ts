import { type ClerkClient, createClerkClient, type UserJSON, verifyToken } from "@clerk/backend";
import type { Config } from "../../config.ts";
import { UnauthorizedError, UpstreamError } from "../../errors.ts";
import type { ClerkProfile } from "../users/service.ts";

/** The claims of a verified Clerk session token that this server reads. */
export interface ClerkSessionClaims {
  sub: string;
  [claim: string]: unknown;
}

const CLERK_API_TIMEOUT_MS = 5000;

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function fullName(first: unknown, last: unknown): string | undefined {
  return text([text(first), text(last)].filter(Boolean).join(" "));
}

/** Clerk's own user record (API response or webhook payload) as a profile. */
export function profileFromClerkUser(user: UserJSON): ClerkProfile {
  const primary =
    user.email_addresses?.find((e) => e.id === user.primary_email_address_id) ??
    user.email_addresses?.[0];
  return {
    clerkId: user.id,
    email: text(primary?.email_address),
    name: fullName(user.first_name, user.last_name) ?? text(user.username),
    avatar: text(user.image_url),
  };
}

/**
 * A session token's claims as a profile. Clerk's default session token carries only ids; an
 * instance may add `email`, `name`, `first_name`/`last_name` and `image_url` through a custom
 * session-token template, and those are used when present.
 */
export function profileFromClaims(claims: ClerkSessionClaims): ClerkProfile {
  return {
    clerkId: claims.sub,
    email: text(claims.email) ?? text(claims.primary_email_address) ?? text(claims.email_address),
    name:
      text(claims.name) ?? fullName(claims.first_name, claims.last_name) ?? text(claims.username),
    avatar: text(claims.image_url) ?? text(claims.picture) ?? text(claims.avatar),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Everything this server asks of Clerk: verifying session tokens (networkless with the PEM
 * `CLERK_JWT_KEY`; through Clerk's JWKS with only `CLERK_SECRET_KEY`) and reading a user from
 * Clerk's Backend API (needs `CLERK_SECRET_KEY`).
 */
export class ClerkGateway {
  private readonly client: ClerkClient | null;

  private constructor(private readonly settings: Config["clerk"]) {
    this.client = settings.secretKey
      ? createClerkClient({ secretKey: settings.secretKey, apiUrl: settings.apiUrl })
      : null;
  }

  /** Null when Clerk is not configured: Clerk tokens are then refused like any unknown token. */
  static fromConfig(settings: Config["clerk"]): ClerkGateway | null {
    if (!settings.jwtKey && !settings.secretKey) return null;
    return new ClerkGateway(settings);
  }

  get canReadUsers(): boolean {
    return this.client !== null;
  }

  /** The verified claims; UnauthorizedError for anything Clerk's verifier refuses. */
  async verifySessionToken(token: string): Promise<ClerkSessionClaims> {
    const { jwtKey, secretKey, apiUrl, authorizedParties } = this.settings;
    let claims: Awaited<ReturnType<typeof verifyToken>>;
    try {
      claims = await verifyToken(token, {
        jwtKey,
        secretKey,
        apiUrl,
        authorizedParties: authorizedParties.length > 0 ? authorizedParties : undefined,
      });
    } catch {
      throw new UnauthorizedError("The token is invalid or expired");
    }
    if (typeof claims.sub !== "string" || claims.sub === "") {
      throw new UnauthorizedError("The token is invalid or expired");
    }
    return claims as ClerkSessionClaims;
  }

  /** The user's profile from Clerk's Backend API; UpstreamError when Clerk does not answer. */
  async fetchProfile(clerkId: string): Promise<ClerkProfile> {
    if (!this.client) throw new UpstreamError("Clerk");
    try {
      const user = await withTimeout(this.client.users.getUser(clerkId), CLERK_API_TIMEOUT_MS);
      // Anything but the user we asked for (an unparsed body, another user) is a failure.
      if (typeof user !== "object" || user === null || user.id !== clerkId) {
        throw new Error("unexpected response");
      }
      if (user.raw) return profileFromClerkUser(user.raw);
      return {
        clerkId: user.id,
        email: text(
          (
            user.emailAddresses.find((e) => e.id === user.primaryEmailAddressId) ??
            user.emailAddresses[0]
          )?.emailAddress,
        ),
        name: fullName(user.firstName, user.lastName) ?? text(user.username),
        avatar: text(user.imageUrl),
      };
    } catch {
      throw new UpstreamError("Clerk");
    }
  }
}
