import { Elysia } from "elysia";
import pino from "pino";

export type Logger = pino.Logger;

/**
 * Keys whose values must never reach a log line, wherever they appear in a logged object. The
 * request line itself carries only method, path (never the query string: `?token=` lives there),
 * status, duration and request id.
 */
const REDACT = [
  "token",
  "password",
  "passwordHash",
  "secret",
  "authorization",
  "cookie",
  "*.token",
  "*.password",
  "*.passwordHash",
  "*.secret",
  "*.authorization",
  "*.cookie",
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: undefined });
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

interface RequestTiming {
  id: string;
  startedAt: number;
}

/**
 * One structured line per request and an `x-request-id` header on every response, echoed when the
 * client sent a sane one. Kept per Request object so it works for routes that never matched (404)
 * and for requests that failed before any handler ran (413, malformed JSON).
 */
export function requestLogger(log: Logger) {
  const timings = new WeakMap<Request, RequestTiming>();
  return new Elysia({ name: "request-logger" })
    .onRequest(({ request, set }) => {
      const given = request.headers.get("x-request-id");
      const id = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
      timings.set(request, { id, startedAt: performance.now() });
      set.headers["x-request-id"] = id;
    })
    .derive({ as: "global" }, ({ request }) => ({
      requestId: timings.get(request)?.id ?? "",
    }))
    .onAfterResponse({ as: "global" }, ({ request, set }) => {
      const timing = timings.get(request);
      const status = typeof set.status === "number" ? set.status : 200;
      log.info(
        {
          reqId: timing?.id,
          method: request.method,
          path: new URL(request.url).pathname,
          status,
          ms: timing ? Math.round((performance.now() - timing.startedAt) * 100) / 100 : undefined,
        },
        "request",
      );
    });
}
