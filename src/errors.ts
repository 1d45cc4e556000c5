/**
 * The one error family. Services throw these; the error plugin turns each into the contract's
 * shape `{ message, code }` with its status. Anything else that escapes becomes a bare 500.
 */
export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra fields sent alongside message and code (e.g. `errors`, `version`). */
    readonly details: Record<string, unknown> = {},
    /** Response headers the error needs (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  toBody(): Record<string, unknown> {
    return { message: this.message, code: this.code, ...this.details };
  }
}

export class ValidationError extends AppError {
  constructor(message = "The request is invalid", errors: FieldError[] = []) {
    super(400, "VALIDATION", message, { errors });
  }
}

/** A 400 that is not a schema failure (e.g. "you cannot chat with yourself"). */
export class BadRequestError extends AppError {
  constructor(message: string, code = "BAD_REQUEST") {
    super(400, code, message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = "Authentication required") {
    super(401, "UNAUTHORIZED", message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = "You are not allowed to do that") {
    super(403, "FORBIDDEN", message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = "Not found") {
    super(404, "NOT_FOUND", message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = "CONFLICT", details: Record<string, unknown> = {}) {
    super(409, code, message, details);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    // The rest of an oversized body is never read, so the connection cannot be reused.
    super(
      413,
      "PAYLOAD_TOO_LARGE",
      `The request body is larger than ${limitBytes} bytes`,
      {},
      {
        connection: "close",
      },
    );
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(
      429,
      "RATE_LIMITED",
      "Too many requests; slow down",
      { retryAfter: retryAfterSeconds },
      { "retry-after": String(retryAfterSeconds) },
    );
  }
}

export class UpstreamError extends AppError {
  constructor(service: string) {
    super(502, "UPSTREAM", `${service} did not answer as expected; try again`);
  }
}

export class StreamDisabledError extends AppError {
  constructor() {
    super(
      503,
      "STREAM_DISABLED",
      "Video and chat through Stream are not configured on this server",
    );
  }
}

/** A dependency (the database, Redis) cannot be reached: the client should try again soon. */
export class UnavailableError extends AppError {
  constructor(message = "The service is not ready", retryAfterSeconds = 1) {
    super(
      503,
      "UNAVAILABLE",
      message,
      { retryAfter: retryAfterSeconds },
      { "retry-after": String(retryAfterSeconds) },
    );
  }
}

export class RequestTimeoutError extends AppError {
  constructor(timeoutMs: number) {
    // The rest of the body may still arrive at any moment, so the connection cannot be reused.
    super(
      408,
      "REQUEST_TIMEOUT",
      `The request body did not arrive within ${timeoutMs} ms`,
      {},
      { connection: "close" },
    );
  }
}

/**
 * A request body in anything but JSON. Forms and multipart are never parsed: they are what a
 * foreign page can post with the visitor's cookie, with no CORS preflight. The body is refused
 * unread, so the connection cannot be reused.
 */
export class UnsupportedMediaTypeError extends AppError {
  constructor() {
    super(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      "Request bodies must be JSON (Content-Type: application/json)",
      {},
      { connection: "close" },
    );
  }
}
