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

/** What a log line may say about an error: its class and code, never its message. */
export interface ErrorSummary {
  name: string;
  code?: string | number;
  /** MongoDB's name for the code, e.g. "DuplicateKey". */
  codeName?: string;
  /** The class of what caused it, when it wraps another error. */
  cause?: string;
}

function stringOrNumber(value: unknown): string | number | undefined {
  return typeof value === "string" || typeof value === "number" ? value : undefined;
}

/**
 * A driver's message can quote user data (a key, a value, a query) and a stack says how the code
 * is laid out, so neither is ever logged: only the class, the code and the class of the cause.
 */
export function summarizeError(error: unknown): ErrorSummary {
  if (typeof error !== "object" || error === null) return { name: typeof error };
  const e = error as { name?: unknown; code?: unknown; codeName?: unknown; cause?: unknown };
  const summary: ErrorSummary = {
    name: typeof e.name === "string" ? e.name : (error.constructor?.name ?? "Error"),
  };
  const code = stringOrNumber(e.code);
  if (code !== undefined) summary.code = code;
  if (typeof e.codeName === "string") summary.codeName = e.codeName;
  if (typeof e.cause === "object" && e.cause !== null) summary.cause = summarizeError(e.cause).name;
  return summary;
}

/**
 * Every line under `err` goes through `summarizeError`, whatever the call site hands over. Lines
 * go to `destination` (stdout by default; tests capture them).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT, censor: "[redacted]" },
    base: undefined,
    serializers: { err: summarizeError },
  };
  return destination ? pino(options, destination) : pino(options);
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** A path segment that is a secret: a push token (`DELETE /api/devices/:token`) can be pushed to. */
const SECRET_PATH = /^(\/api\/devices\/)[^/]+/;

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
          path: new URL(request.url).pathname.replace(SECRET_PATH, "$1[redacted]"),
          status,
          ms: timing ? Math.round((performance.now() - timing.startedAt) * 100) / 100 : undefined,
        },
        "request",
      );
    });
}
