import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { TOKEN_COOKIE, tokenFromRequest } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, JSON_BODY, withErrors } from "../common/model.ts";
import { UserEnvelope } from "../users/model.ts";
import { LoginBody, normalizeCredentials, RegisterBody, Session } from "./model.ts";
import type { AuthService } from "./service.ts";
import { TOKEN_TTL_SECONDS } from "./tokens.ts";

export interface AuthModuleDeps {
  auth: AuthPlugin;
  service: AuthService;
  /** Cookies get `Secure` in production, where TLS terminates in front of us. */
  production: boolean;
}

/**
 * The routes that authenticate by a password in the body, never by the cookie: the cross-site
 * request forgery guard (plugins/csrf.ts) leaves them be.
 */
export const PASSWORD_ROUTES = ["/api/auth/register", "/api/auth/login"] as const;

/** Built-in accounts and the session cookie; Clerk users sync through `/callback`. */
export function authModule({ auth, service, production }: AuthModuleDeps) {
  const cookie = {
    httpOnly: true,
    sameSite: "lax",
    secure: production,
    path: "/",
  } as const;

  return new Elysia({ prefix: "/api/auth", detail: { tags: ["auth"] } })
    .use(auth)
    .post(
      "/register",
      async ({ body, cookie: jar, status }) => {
        const session = await service.register(body);
        jar[TOKEN_COOKIE]!.set({ ...cookie, value: session.token, maxAge: TOKEN_TTL_SECONDS });
        return status(201, session);
      },
      {
        transform: ({ body }) => normalizeCredentials(body),
        body: RegisterBody,
        response: withErrors({ 201: Session }, [...JSON_BODY, 409, 503]),
        detail: {
          summary: "Create a built-in account",
          description: "Also sets the httpOnly `token` cookie. 409 EMAIL_TAKEN for a used email.",
        },
      },
    )
    .post(
      "/login",
      async ({ body, cookie: jar }) => {
        const session = await service.login(body);
        jar[TOKEN_COOKIE]!.set({ ...cookie, value: session.token, maxAge: TOKEN_TTL_SECONDS });
        return session;
      },
      {
        transform: ({ body }) => normalizeCredentials(body),
        body: LoginBody,
        response: withErrors(Session, [...JSON_BODY, 401, 429, 503]),
        detail: {
          summary: "Sign in with email and password",
          description:
            "Also sets the httpOnly `token` cookie. 401 with one message for any bad pair.",
        },
      },
    )
    .post(
      "/logout",
      async ({ request, cookie: jar, status }) => {
        // The token that authenticates the request (Bearer, else the cookie) is revoked when it
        // is a valid built-in one. No token needed: clearing a cookie is harmless, and an expired
        // session must still be able to clear its own.
        await service.logout(tokenFromRequest(request));
        jar[TOKEN_COOKIE]!.set({ ...cookie, value: "", maxAge: 0, expires: new Date(0) });
        return status(204, undefined);
      },
      {
        response: withErrors({ 204: t.Void() }, [403, 503]),
        detail: {
          summary: "End the caller's sign-in and clear the `token` cookie",
          description:
            "Revokes the built-in token presented (Bearer, else the cookie): it is refused " +
            "everywhere from then on, and its sockets close with 1008. Without a token, or with " +
            "an invalid or Clerk one, only clears the cookie.",
        },
      },
    )
    .post(
      "/logout-all",
      async ({ user, cookie: jar, status }) => {
        await service.logoutAll(user.id);
        jar[TOKEN_COOKIE]!.set({ ...cookie, value: "", maxAge: 0, expires: new Date(0) });
        return status(204, undefined);
      },
      {
        auth: true,
        response: withErrors({ 204: t.Void() }, AUTHENTICATED_CHANGE),
        detail: {
          summary: "End every sign-in of the caller, on every device",
          description:
            "Revokes all of the caller's built-in tokens (their sockets close with 1008 on " +
            "every instance) and clears the `token` cookie. Clerk sessions are Clerk's to end.",
        },
      },
    )
    .get("/me", async ({ user }) => ({ user: await service.me(user.id) }), {
      auth: true,
      response: withErrors(UserEnvelope, AUTHENTICATED),
      detail: { summary: "The caller" },
    })
    .post(
      "/callback",
      async ({ user }) => ({ user: await service.syncFromClerk(user.id, user.clerkId) }),
      {
        auth: true,
        response: withErrors(UserEnvelope, [...AUTHENTICATED_CHANGE, 502]),
        detail: {
          summary: "Sync the caller from Clerk's user API",
          description:
            "For a Clerk user, reads Clerk's Backend API (502 UPSTREAM if it fails) and stores " +
            "the result. For a built-in user, or without CLERK_SECRET_KEY, returns the stored user.",
        },
      },
    );
}
