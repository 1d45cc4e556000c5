import { Elysia, ValidationError as ElysiaValidationError } from "elysia";
import { fromDatabaseError } from "../db/errors.ts";
import { AppError, type FieldError, UnavailableError, ValidationError } from "../errors.ts";
import type { Logger } from "./logger.ts";

interface ElysiaValueError {
  path?: string;
  message?: string;
  summary?: string;
}

/**
 * Elysia checks numeric query and path values one at a time (type "property") and forgets which
 * key it was looking at; the key is recovered by finding the parameter that holds the bad value.
 */
function propertyName(error: ElysiaValidationError, request: Request): string {
  const found = String(error.value);
  for (const [key, value] of new URL(request.url).searchParams) if (value === found) return key;
  return "query";
}

function fieldErrors(error: ElysiaValidationError, request: Request): FieldError[] {
  const all = (error.all ?? []) as ElysiaValueError[];
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  const fallback = error.type === "property" ? propertyName(error, request) : error.type;
  for (const e of all) {
    const path = (e.path ?? "").replace(/^\//, "").replaceAll("/", ".") || fallback;
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push({ path, message: e.summary ?? e.message ?? "is invalid" });
  }
  return errors;
}

const WHERE: Record<string, string> = {
  body: "request body",
  property: "request",
  params: "path",
};

/**
 * The one error handler: every failure leaves as `{ message, code, ... }` with its status, and
 * nothing internal (stack, driver message, secret) ever reaches the client.
 */
export function errorHandler(log: Logger) {
  return new Elysia({ name: "error-handler" }).onError(
    { as: "global" },
    ({ code, error, set, request }) => {
      let appError: AppError;
      if (error instanceof AppError) {
        appError = error;
      } else if (error instanceof ElysiaValidationError) {
        const where = WHERE[error.type] ?? error.type;
        appError = new ValidationError(`The ${where} is invalid`, fieldErrors(error, request));
      } else if (code === "PARSE" && error.cause instanceof AppError) {
        appError = error.cause;
      } else if (code === "PARSE") {
        appError = new ValidationError("The request body is not valid JSON");
      } else if (code === "NOT_FOUND") {
        appError = new AppError(404, "NOT_FOUND", "Route not found");
      } else {
        const mapped = fromDatabaseError(error);
        if (mapped) {
          appError = mapped;
          if (mapped instanceof UnavailableError) log.warn({ err: error }, "database unavailable");
        } else {
          log.error({ err: error }, "unhandled error");
          appError = new AppError(500, "INTERNAL", "Something went wrong on our side");
        }
      }
      set.status = appError.status;
      Object.assign(set.headers, appError.headers);
      return appError.toBody();
    },
  );
}
