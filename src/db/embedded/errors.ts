/**
 * Server-side errors carry mongod's numeric code and codeName so drivers and
 * Mongoose react to them exactly as they would against a real server
 * (e.g. retry on 11000, ignore 26 when listing indexes of a missing collection).
 */

const CODE_NAMES: Record<number, string> = {
  1: "InternalError",
  2: "BadValue",
  9: "FailedToParse",
  14: "TypeMismatch",
  20: "IllegalOperation",
  26: "NamespaceNotFound",
  27: "IndexNotFound",
  28: "PathNotViable",
  40: "ConflictingUpdateOperators",
  43: "CursorNotFound",
  48: "NamespaceExists",
  59: "CommandNotFound",
  66: "ImmutableField",
  67: "CannotCreateIndex",
  72: "InvalidOptions",
  73: "InvalidNamespace",
  85: "IndexOptionsConflict",
  86: "IndexKeySpecsConflict",
  115: "CommandNotSupported",
  238: "NotImplemented",
  10334: "BSONObjectTooLarge",
  11000: "DuplicateKey",
};

export const ErrorCode = {
  InternalError: 1,
  BadValue: 2,
  FailedToParse: 9,
  TypeMismatch: 14,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  CommandNotFound: 59,
  ImmutableField: 66,
  CannotCreateIndex: 67,
  InvalidOptions: 72,
  InvalidNamespace: 73,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  CommandNotSupported: 115,
  NotImplemented: 238,
  BSONObjectTooLarge: 10334,
  DuplicateKey: 11000,
} as const;

export class StoreError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** Extra reply fields mongod attaches to this error, e.g. keyPattern/keyValue. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "StoreError";
  }

  /** mongod names an assertion code that has no name of its own `Location<code>`. */
  get codeName(): string {
    return CODE_NAMES[this.code] ?? `Location${this.code}`;
  }

  /** Shape used inside `writeErrors` entries. */
  toWriteError(index: number): Record<string, unknown> {
    return { index, code: this.code, errmsg: this.message, ...this.extra };
  }

  /** Shape of a failed command reply (`ok: 0`). */
  toReply(): Record<string, unknown> {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extra };
  }
}

export function badValue(message: string): StoreError {
  return new StoreError(ErrorCode.BadValue, message);
}

export function typeMismatch(message: string): StoreError {
  return new StoreError(ErrorCode.TypeMismatch, message);
}

export function failedToParse(message: string): StoreError {
  return new StoreError(ErrorCode.FailedToParse, message);
}

/**
 * Anything thrown while running a command becomes a StoreError. Errors from
 * mingo (invalid operators, bad expressions) are user input problems, so they
 * map to BadValue; the message is kept but never the stack.
 */
export function toStoreError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/immutable field/i.test(message)) return new StoreError(ErrorCode.ImmutableField, message);
  // mingo knows $jsonSchema but needs a JSON Schema validator, which the store does not have.
  if (message.includes("$jsonSchema requires"))
    return new StoreError(
      ErrorCode.NotImplemented,
      "$jsonSchema is not supported by the embedded store",
    );
  if (/Unknown (update|pipeline) operator/i.test(message)) return failedToParse(message);
  return badValue(message);
}
