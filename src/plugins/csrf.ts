import { Elysia } from "elysia";
import { ForbiddenError } from "../errors.ts";
import { isCookieAuthenticated } from "./auth.ts";

/** Methods that change nothing, which browsers send with the cookie from any page. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Which pages may use the session cookie: the configured CORS origins (`*` allows any), and this
 * server's own origin (an `Origin` whose host is the request's `Host`, such as `/swagger`). The
 * `Origin` header must be there: a browser always sends it with a cross-origin request, with
 * every POST, PUT, PATCH or DELETE, and with every WebSocket upgrade, so a cookie with no Origin
 * did not come from a page we know.
 */
export function trustedOrigin(allowedOrigins: string[]): (request: Request) => boolean {
  const anyOrigin = allowedOrigins.includes("*");
  const allowed = new Set(allowedOrigins);
  return (request) => {
    const origin = request.headers.get("origin");
    if (!origin) return false;
    if (anyOrigin || allowed.has(origin)) return true;
    try {
      return new URL(origin).host === request.headers.get("host");
    } catch {
      return false;
    }
  };
}

export interface CsrfGuardOptions {
  /** The configured CORS origins; `*` allows any. */
  allowedOrigins: string[];
  /**
   * Paths that authenticate by a password in a JSON body, never by the cookie (register, login):
   * a cookie that comes along is not what they act on, and no foreign page can send them JSON
   * (that needs a CORS preflight, which CORS_ORIGINS refuses; forms get 415).
   */
  exempt: readonly string[];
}

/**
 * Cross-site request forgery: a browser sends the httpOnly `token` cookie with requests from any
 * page of the same site (SameSite=Lax covers other ports and subdomains). So a request that
 * changes something and is authenticated by the cookie alone (no `Authorization` header) must
 * come from a trusted origin, else 403 before routing. A Bearer token is no ambient credential:
 * native apps send it with no Origin at all. WebSocket upgrades are checked in the realtime
 * module, where the upgrade is authenticated.
 */
export function csrfGuard({ allowedOrigins, exempt }: CsrfGuardOptions) {
  const trusted = trustedOrigin(allowedOrigins);
  const exemptPaths = new Set(exempt);
  return new Elysia({ name: "csrf" }).onRequest(({ request }) => {
    if (SAFE_METHODS.has(request.method) || !isCookieAuthenticated(request)) return;
    if (trusted(request) || exemptPaths.has(new URL(request.url).pathname)) return;
    throw new ForbiddenError("This page may not use the session cookie to change anything");
  });
}
