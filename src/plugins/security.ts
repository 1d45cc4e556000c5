import { Elysia } from "elysia";

/** The usual defensive headers; HSTS only in production, where TLS terminates in front of us. */
export function securityHeaders(production: boolean) {
  const headers: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
  };
  if (production) headers["strict-transport-security"] = "max-age=31536000; includeSubDomains";
  return new Elysia({ name: "security-headers" }).onRequest(({ set }) => {
    Object.assign(set.headers, headers);
  });
}
