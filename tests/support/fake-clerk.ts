/**
 * Clerk, faked locally: session tokens signed with a fresh RSA key (verified by the real
 * `@clerk/backend` through `CLERK_JWT_KEY`), a Backend API serving `GET /v1/users/:id`, and
 * Standard Webhooks signatures as Clerk's webhooks (Svix) send them.
 */
import { exportSPKI, generateKeyPair, SignJWT } from "jose";

export const FRONTEND_ORIGIN = "http://localhost:5173";
export const ISSUER = "https://clerk.example.test";

export interface ClerkUserFixture {
  id: string;
  email?: string;
  firstName?: string | null;
  lastName?: string | null;
  imageUrl?: string;
}

export interface ClerkKeys {
  kid: string;
  privateKey: CryptoKey;
  /** SPKI PEM, as the Clerk dashboard shows it: what `CLERK_JWT_KEY` holds. */
  publicPem: string;
}

/** An RSA key pair like a Clerk instance's (RS256, 2048 bits). */
export async function clerkKeys(
  kid = `ins_${crypto.randomUUID().slice(0, 8)}`,
): Promise<ClerkKeys> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", {
    modulusLength: 2048,
    extractable: true,
  });
  return { kid, privateKey, publicPem: await exportSPKI(publicKey) };
}

export interface SessionTokenOptions {
  azp?: string;
  /** Seconds relative to now. */
  expiresIn?: number;
  issuedAgo?: number;
  claims?: Record<string, unknown>;
}

/** A Clerk-shaped session token: `sub`, `sid`, `iss`, `azp`, `iat`, `nbf`, `exp`, `kid`. */
export async function sessionToken(
  keys: ClerkKeys,
  clerkId: string,
  options: SessionTokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const iat = now - (options.issuedAgo ?? 5);
  return new SignJWT({
    sid: `sess_${crypto.randomUUID().slice(0, 12)}`,
    azp: options.azp ?? FRONTEND_ORIGIN,
    ...options.claims,
  })
    .setProtectedHeader({ alg: "RS256", kid: keys.kid, typ: "JWT" })
    .setSubject(clerkId)
    .setIssuer(ISSUER)
    .setIssuedAt(iat)
    .setNotBefore(iat - 5)
    .setExpirationTime(now + (options.expiresIn ?? 60))
    .sign(keys.privateKey);
}

/** Clerk's user JSON (the Backend API's and the webhooks' shape). */
export function clerkUserJson(user: ClerkUserFixture): Record<string, unknown> {
  const emailId = `idn_${user.id}`;
  return {
    object: "user",
    id: user.id,
    username: null,
    first_name: user.firstName ?? null,
    last_name: user.lastName ?? null,
    image_url: user.imageUrl ?? "",
    has_image: Boolean(user.imageUrl),
    primary_email_address_id: user.email ? emailId : null,
    email_addresses: user.email
      ? [
          {
            object: "email_address",
            id: `idn_other_${user.id}`,
            email_address: `old.${user.email}`,
            linked_to: [],
          },
          { object: "email_address", id: emailId, email_address: user.email, linked_to: [] },
        ]
      : [],
    phone_numbers: [],
    web3_wallets: [],
    external_accounts: [],
    public_metadata: {},
    private_metadata: {},
    unsafe_metadata: {},
    created_at: Date.now(),
    updated_at: Date.now(),
  };
}

export interface FakeClerkApi {
  readonly url: string;
  readonly secretKey: string;
  /** Every request the fake answered: method, path, and whether the secret key was right. */
  readonly requests: { method: string; path: string; authorized: boolean }[];
  users: Map<string, ClerkUserFixture>;
  /** While true, every call answers 500. */
  failing: boolean;
  stop(): Promise<void>;
}

/** Clerk's Backend API, as much of it as this server calls: `GET /v1/users/:id`. */
export function fakeClerkApi(
  secretKey = `sk_test_${crypto.randomUUID().replaceAll("-", "")}`,
): FakeClerkApi {
  const requests: FakeClerkApi["requests"] = [];
  const state = { failing: false };
  const users = new Map<string, ClerkUserFixture>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request) {
      const { pathname } = new URL(request.url);
      const authorized = request.headers.get("authorization") === `Bearer ${secretKey}`;
      requests.push({ method: request.method, path: pathname, authorized });
      // Clerk's SDK parses a body as JSON only for exactly "application/json", as Clerk sends it.
      const json = (body: unknown, status = 200) =>
        new Response(JSON.stringify(body), {
          status,
          headers: { "content-type": "application/json" },
        });
      const error = (status: number, code: string) =>
        json({ errors: [{ code, message: code, long_message: code }] }, status);
      if (!authorized) return error(401, "authentication_invalid");
      if (state.failing) return error(500, "internal_clerk_error");
      const match = /^\/v1\/users\/([^/]+)$/.exec(pathname);
      if (request.method === "GET" && match) {
        const user = users.get(decodeURIComponent(match[1]!));
        return user ? json(clerkUserJson(user)) : error(404, "resource_not_found");
      }
      return error(404, "resource_not_found");
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    secretKey,
    requests,
    users,
    get failing() {
      return state.failing;
    },
    set failing(value) {
      state.failing = value;
    },
    async stop() {
      await server.stop(true);
    },
  };
}

/** A `whsec_` secret, as Clerk's dashboard shows a webhook endpoint's signing secret. */
export function webhookSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`;
}

/**
 * Svix headers for `body`: HMAC-SHA256 over `${id}.${timestamp}.${body}` with the base64 key
 * after `whsec_`, sent as `v1,<base64 signature>`.
 */
export async function signWebhook(
  secret: string,
  body: string,
  options: { id?: string; timestamp?: number } = {},
): Promise<Record<string, string>> {
  const id = options.id ?? `msg_${crypto.randomUUID()}`;
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const key = await crypto.subtle.importKey(
    "raw",
    Buffer.from(secret.slice("whsec_".length), "base64"),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${id}.${timestamp}.${body}`),
  );
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": timestamp,
    "svix-signature": `v1,${Buffer.from(signature).toString("base64")}`,
  };
}
