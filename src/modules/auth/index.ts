import { Elysia, t } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { TOKEN_COOKIE } from "../../plugins/auth.ts";
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
        response: { 201: Session },
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
        response: Session,
        detail: {
          summary: "Sign in with email and password",
          description:
            "Also sets the httpOnly `token` cookie. 401 with one message for any bad pair.",
        },
      },
    )
    .post(
      "/logout",
      ({ cookie: jar, status }) => {
        // No token needed: clearing a cookie is harmless, and an expired session must still be
        // able to clear its own.
        jar[TOKEN_COOKIE]!.set({ ...cookie, value: "", maxAge: 0, expires: new Date(0) });
        return status(204, undefined);
      },
      {
        response: { 204: t.Void() },
        detail: { summary: "Clear the `token` cookie" },
      },
    )
    .get("/me", async ({ user }) => ({ user: await service.me(user.id) }), {
      auth: true,
      response: UserEnvelope,
      detail: { summary: "The caller" },
    })
    .post(
      "/callback",
      async ({ user }) => ({ user: await service.syncFromClerk(user.id, user.clerkId) }),
      {
        auth: true,
        response: UserEnvelope,
        detail: {
          summary: "Sync the caller from Clerk's user API",
          description:
            "For a Clerk user, reads Clerk's Backend API (502 UPSTREAM if it fails) and stores " +
            "the result. For a built-in user, or without CLERK_SECRET_KEY, returns the stored user.",
        },
      },
    );
}
