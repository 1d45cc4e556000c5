/**
 * Command options beyond the basic CRUD arguments, handled as MongoDB 7.0 does or refused
 * loudly rather than ignored:
 *
 * - `let` (find, aggregate, update, delete, findAndModify): constants evaluated once, then
 *   readable as `$$name` in `$expr`, pipelines and computed projections.
 * - `collation`: only the default `{ locale: "simple" }` is accepted; any other collation
 *   answers NotImplemented, since the store compares strings by code point only.
 * - The 16 MiB limit on a stored document (BSONObjMaxUserSize), with mongod's codes: an insert
 *   over it is BadValue "object to insert too large" (ops/insert.cpp), an update result 17419,
 *   an upserted document 17420 (update_stage.cpp / upsert_stage.cpp).
 */
import { calculateObjectSize } from "bson";
import { describeType } from "./command-context.ts";
import { ErrorCode, StoreError, typeMismatch } from "./errors.ts";
import { evaluateConstant } from "./mingo-adapter.ts";
import { type Doc, isPlainObject, toWire } from "./values.ts";

/** BSONObjMaxUserSize: the largest document a client may store. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/**
 * The command's `let` variables, evaluated (they may be expressions, e.g. `{ $add: [1, 2] }`),
 * or undefined when it has none. Names follow mongod's Variables::validateNameForUserWrite.
 */
export function letVariables(command: Doc): Doc | undefined {
  const raw = command.let;
  if (raw === undefined || raw === null) return undefined;
  if (!isPlainObject(raw))
    throw typeMismatch(
      `BSON field 'let' is the wrong type '${describeType(raw)}', expected type 'object'`,
    );
  const variables: Doc = {};
  for (const [name, expression] of Object.entries(raw)) {
    checkVariableName(name);
    if (readsDocument(expression)) {
      throw new StoreError(
        4890500,
        "Command let Expression tried to access a field, but this is not allowed because Command let Expressions run before the query examines any documents.",
      );
    }
    variables[name] = evaluateConstant(expression);
  }
  return variables;
}

const SYSTEM_CONSTANTS = new Set(["NOW", "CLUSTER_TIME", "JS_SCOPE", "IS_MR", "USER_ROLES"]);

function checkVariableName(name: string): void {
  if (name.length === 0) throw new StoreError(16866, "empty variable names are not allowed");
  const first = name.charCodeAt(0);
  if (!(first >= 97 && first <= 122) && first < 128) {
    if (SYSTEM_CONSTANTS.has(name))
      throw new StoreError(4738901, `Attempt to set internal constant: ${name}`);
    throw new StoreError(
      16867,
      `'${name}' starts with an invalid character for a user variable name`,
    );
  }
  for (const char of name.slice(1)) {
    if (!/[a-zA-Z0-9_]/.test(char) && char.charCodeAt(0) < 128) {
      throw new StoreError(
        16868,
        `'${name}' contains an invalid character for a variable name: '${char}'`,
      );
    }
  }
}

/** True when an expression refers to the current document (`"$field"`, `$$ROOT`, `$$CURRENT`). */
function readsDocument(expression: unknown): boolean {
  if (typeof expression === "string") {
    if (!expression.startsWith("$")) return false;
    if (!expression.startsWith("$$")) return true;
    return /^\$\$(ROOT|CURRENT)(\.|$)/.test(expression);
  }
  if (Array.isArray(expression)) return expression.some(readsDocument);
  if (!isPlainObject(expression)) return false;
  return Object.entries(expression).some(
    ([key, value]) => key !== "$literal" && readsDocument(value),
  );
}

/**
 * Refuses any collation but the default (simple, code point order): the store would otherwise
 * silently compare strings differently from the MongoDB the application was written for.
 */
export function checkCollation(collation: unknown): void {
  if (collation === undefined || collation === null) return;
  if (!isPlainObject(collation))
    throw typeMismatch(
      `BSON field 'collation' is the wrong type '${describeType(collation)}', expected type 'object'`,
    );
  if (collation.locale === "simple") return;
  throw new StoreError(
    ErrorCode.NotImplemented,
    `Collations other than { locale: "simple" } are not supported by the embedded store (got ${JSON.stringify(collation)})`,
  );
}

function bsonSize(doc: Doc): number {
  return calculateObjectSize(toWire(doc));
}

/** An inserted document over the limit; `ops/insert.cpp` answers BadValue, per document. */
export function checkInsertSize(doc: Doc): void {
  const size = bsonSize(doc);
  if (size > MAX_DOCUMENT_BYTES) {
    throw new StoreError(
      ErrorCode.BadValue,
      `object to insert too large. size in bytes: ${size}, max size: ${MAX_DOCUMENT_BYTES}`,
    );
  }
}

/**
 * A document's BSON is less than ten times as long as its `keyOf` form: the worst case, an array
 * of Decimal128 zeros (`m0,` against 16 bytes plus the index as a key), comes to about 8. So a
 * document whose key is under a tenth of the limit needs no size computation, and updates
 * already build that key.
 */
const KEY_LENGTH_SAFE = Math.floor(MAX_DOCUMENT_BYTES / 10);

/** An updated document over the limit (17419); `keyLength` is `keyOf(doc).length`. */
export function checkUpdatedSize(doc: Doc, keyLength: number): void {
  if (keyLength < KEY_LENGTH_SAFE || bsonSize(doc) <= MAX_DOCUMENT_BYTES) return;
  throw new StoreError(
    17419,
    `Resulting document after update is larger than ${MAX_DOCUMENT_BYTES}`,
  );
}

/** A document an upsert would insert over the limit (17420). */
export function checkUpsertSize(doc: Doc): void {
  if (bsonSize(doc) <= MAX_DOCUMENT_BYTES) return;
  throw new StoreError(17420, `Document to upsert is larger than ${MAX_DOCUMENT_BYTES}`);
}
