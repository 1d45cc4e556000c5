/**
 * What a database failure means to a client, decided in one place for REST and sockets alike.
 * Only the error's class, code and labels are read: a driver's message can quote user data.
 */
import { AppError, UnavailableError, ValidationError } from "../errors.ts";

/** The driver's and Mongoose's classes for "the database cannot be reached right now". */
const UNREACHABLE = new Set([
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoServerSelectionError",
  "MongooseServerSelectionError",
  "MongoPoolClearedError",
  "MongoPoolClosedError",
  "MongoWaitQueueTimeoutError",
  "MongoNotConnectedError",
  "MongoTopologyClosedError",
  "MongoServerClosedError",
  "MongoOperationTimeoutError",
]);

/**
 * Server codes that mean "not now, try again": the retryable errors of MongoDB's retryable writes
 * specification (shutdown, stepdown, not primary, network trouble between servers).
 */
const RETRYABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** How long a client is told to wait: about what a restart or a failover takes. */
const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

interface DriverError {
  name?: unknown;
  code?: unknown;
  kind?: unknown;
  path?: unknown;
  errorLabels?: unknown;
  /** A MongoBulkWriteError built from a network error copies this flag from it. */
  beforeHandshake?: unknown;
  cause?: unknown;
}

/** True when the error says the database is out of reach, not that the request was wrong. */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 4) return false;
  const e = error as DriverError;
  if (typeof e.name === "string" && UNREACHABLE.has(e.name)) return true;
  if (typeof e.code === "number" && RETRYABLE_CODES.has(e.code)) return true;
  // The driver labels a network failure with ResetPool (the pool is cleared because of it).
  if (Array.isArray(e.errorLabels) && e.errorLabels.includes("ResetPool")) return true;
  if (e.name === "MongoBulkWriteError" && typeof e.beforeHandshake === "boolean") return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}

/** The contract's error for what a driver threw, or undefined when it means nothing to a client. */
export function fromDatabaseError(error: unknown): AppError | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as DriverError;
  if (e.name === "CastError") {
    return new ValidationError("A value is malformed", [
      {
        path: typeof e.path === "string" ? e.path : "id",
        message: `must be a valid ${typeof e.kind === "string" ? e.kind : "value"}`,
      },
    ]);
  }
  if (e.code === 11000) return new AppError(409, "CONFLICT", "That already exists");
  if (isDatabaseUnavailable(error)) return databaseUnavailable();
  return undefined;
}

/** The contract's 503 for a database out of reach, with the Retry-After clients should honour. */
export function databaseUnavailable(): UnavailableError {
  return new UnavailableError(
    "The database cannot be reached right now; try again shortly",
    UNAVAILABLE_RETRY_AFTER_SECONDS,
  );
}
