/**
 * BSON type semantics of in-memory values, as mongod applies them: which BSON type a value is
 * stored as (`$type`), the canonical cross-type order, and comparison within a type (numbers of
 * every width by exact value, BinData by length, then subtype, then bytes, ...).
 *
 * In memory a number is a plain JS `number` (an Int32 when integral and within 32 bits, a Double
 * otherwise, as the BSON serializer writes it back), a `bigint` (an Int64 beyond 2^53), or, where
 * the exact type must travel with the value (aggregation, `$type` filters), a bson `Double`,
 * `Int32` or `Long` object. `Decimal128` stays a bson object.
 */
import { Binary, type Decimal128, Double, Long } from "bson";
import { isPlainObject } from "./values.ts";

/** A path that does not exist in a document (mongod's EOO). */
export const MISSING: unique symbol = Symbol("missing");

export type BsonKind =
  | "minKey"
  | "undefined"
  | "null"
  | "double"
  | "int"
  | "long"
  | "decimal"
  | "string"
  | "symbol"
  | "object"
  | "array"
  | "binData"
  | "objectId"
  | "bool"
  | "date"
  | "timestamp"
  | "regex"
  | "dbPointer"
  | "javascript"
  | "javascriptWithScope"
  | "maxKey";

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function bsonTag(value: object): string | undefined {
  const tag = (value as { _bsontype?: unknown })._bsontype;
  return typeof tag === "string" ? tag : undefined;
}

/** The BSON type `value` is serialized as; `undefined` for a missing path. */
export function kindOf(value: unknown): BsonKind | undefined {
  switch (typeof value) {
    case "number":
      return Number.isInteger(value) &&
        value >= INT32_MIN &&
        value <= INT32_MAX &&
        !Object.is(value, -0)
        ? "int"
        : "double";
    case "string":
      return "string";
    case "boolean":
      return "bool";
    case "bigint":
      return "long";
    case "undefined":
      return "null";
    case "symbol":
      return undefined;
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Date) return "date";
  if (value instanceof RegExp) return "regex";
  if (isPlainObject(value)) return "object";
  switch (bsonTag(value as object)) {
    case "Int32":
      return "int";
    case "Double":
      return "double";
    case "Long":
      return "long";
    case "Decimal128":
      return "decimal";
    case "Binary":
      return "binData";
    case "ObjectId":
      return "objectId";
    case "Timestamp":
      return "timestamp";
    case "MinKey":
      return "minKey";
    case "MaxKey":
      return "maxKey";
    case "BSONRegExp":
      return "regex";
    case "BSONSymbol":
      return "symbol";
    case "Code":
      return (value as { scope?: unknown }).scope ? "javascriptWithScope" : "javascript";
    case "DBRef":
      return "object";
  }
  return "object";
}

export function isNumberKind(kind: BsonKind | undefined): boolean {
  return kind === "int" || kind === "long" || kind === "double" || kind === "decimal";
}

/** mongod's canonical type order (bsontypes.h canonicalizeBSONType); missing ranks with undefined. */
const RANK: Record<BsonKind, number> = {
  minKey: -1,
  undefined: 0,
  null: 5,
  double: 10,
  int: 10,
  long: 10,
  decimal: 10,
  string: 15,
  symbol: 15,
  object: 20,
  array: 25,
  binData: 30,
  objectId: 35,
  bool: 40,
  date: 45,
  timestamp: 47,
  regex: 50,
  dbPointer: 55,
  javascript: 60,
  javascriptWithScope: 65,
  maxKey: 127,
};

export function rankOf(value: unknown): number {
  if (value === MISSING) return 0;
  const kind = kindOf(value);
  return kind === undefined ? 0 : RANK[kind];
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** A number reduced to what exact comparison needs. */
type Numeric = number | bigint | Decimal128;

function numericOf(value: unknown): Numeric {
  if (typeof value === "number" || typeof value === "bigint") return value;
  switch (bsonTag(value as object)) {
    case "Int32":
    case "Double":
      return (value as { value: number }).value;
    case "Long":
      return (value as Long).toBigInt();
  }
  return value as Decimal128;
}

/** An exact decimal: coefficient × 10^exponent, or a special value. */
type Exact = { nan: true } | { inf: 1 | -1 } | { coef: bigint; exp: number };

function exactOfNumber(n: number): Exact {
  if (Number.isNaN(n)) return { nan: true };
  if (!Number.isFinite(n)) return { inf: n > 0 ? 1 : -1 };
  if (Number.isInteger(n)) return { coef: BigInt(n), exp: 0 };
  // n = mantissa × 2^e2 exactly, which is mantissa × 5^-e2 × 10^e2 for e2 < 0.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const sign = hi >>> 31 ? -1n : 1n;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (biased === 0) e2 = -1074;
  else {
    mantissa |= 1n << 52n;
    e2 = biased - 1075;
  }
  if (e2 >= 0) return { coef: sign * (mantissa << BigInt(e2)), exp: 0 };
  return { coef: sign * mantissa * 5n ** BigInt(-e2), exp: e2 };
}

const DECIMAL_PATTERN = /^(-?)(\d+)(?:\.(\d*))?(?:E([+-]?\d+))?$/i;

function exactOfDecimal(value: Decimal128): Exact {
  const text = value.toString();
  if (text === "NaN" || text === "-NaN") return { nan: true };
  if (text === "Infinity") return { inf: 1 };
  if (text === "-Infinity") return { inf: -1 };
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) return { nan: true };
  const fraction = match[3] ?? "";
  const coef = BigInt(`${match[2]}${fraction}`) * (match[1] ? -1n : 1n);
  return { coef, exp: Number(match[4] ?? 0) - fraction.length };
}

function exactOf(value: Numeric): Exact {
  if (typeof value === "number") return exactOfNumber(value);
  if (typeof value === "bigint") return { coef: value, exp: 0 };
  return exactOfDecimal(value);
}

function compareExact(a: Exact, b: Exact): number {
  // NaN is equal to NaN and below every other number (mongod's compareElementValues).
  if ("nan" in a) return "nan" in b ? 0 : -1;
  if ("nan" in b) return 1;
  if ("inf" in a) return "inf" in b ? Math.sign(a.inf - b.inf) : a.inf;
  if ("inf" in b) return -b.inf;
  if (a.coef === 0n || b.coef === 0n) {
    return a.coef === b.coef ? 0 : a.coef === 0n ? (b.coef > 0n ? -1 : 1) : a.coef > 0n ? 1 : -1;
  }
  const exp = Math.min(a.exp, b.exp);
  const left = a.coef * 10n ** BigInt(a.exp - exp);
  const right = b.coef * 10n ** BigInt(b.exp - exp);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Exact comparison of two numeric values of any BSON width. */
export function compareNumbers(a: unknown, b: unknown): number {
  const x = numericOf(a);
  const y = numericOf(b);
  if (typeof x === "number" && typeof y === "number") {
    if (x < y) return -1;
    if (x > y) return 1;
    if (x === y) return 0;
    return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : -1) : 1;
  }
  if (typeof x === "bigint" && typeof y === "bigint") return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === "number" && typeof y === "bigint") return -compareNumberToBigInt(y, x);
  if (typeof x === "bigint" && typeof y === "number") return compareNumberToBigInt(x, y);
  return compareExact(exactOf(x), exactOf(y));
}

/** Compares bigint `b` with double `n`: <0 when b < n. */
function compareNumberToBigInt(b: bigint, n: number): number {
  if (Number.isNaN(n)) return 1;
  if (n === Infinity) return -1;
  if (n === -Infinity) return 1;
  const floor = BigInt(Math.floor(n));
  if (b < floor) return -1;
  if (b > floor) return 1;
  return Number.isInteger(n) ? 0 : -1;
}

export function isNaNNumber(value: unknown): boolean {
  const kind = kindOf(value);
  if (kind === "double") return Number.isNaN(numericOf(value) as number);
  if (kind === "decimal") return (value as Decimal128).toString().endsWith("NaN");
  return false;
}

// ---------------------------------------------------------------------------------------------
// Total order

/** UTF-16 code units in UTF-8 byte order: surrogates stand for code points above U+FFFF. */
function utf8Order(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x2800 : unit;
}

export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  // mongod compares UTF-8 bytes, which is code point order.
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === length) return a.length < b.length ? -1 : 1;
  return utf8Order(a.charCodeAt(i)) < utf8Order(b.charCodeAt(i)) ? -1 : 1;
}

function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  return String((value as { value?: unknown }).value ?? value);
}

function bytesOf(value: unknown): Uint8Array {
  const bin = value as Binary;
  return bin.buffer.subarray(0, bin.position);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** BinData order: length, then subtype, then bytes (mongod's compareElementValues). */
export function compareBinary(a: unknown, b: unknown): number {
  const x = bytesOf(a);
  const y = bytesOf(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  const subA = (a as Binary).sub_type;
  const subB = (b as Binary).sub_type;
  if (subA !== subB) return subA < subB ? -1 : 1;
  return Math.sign(compareBytes(x, y));
}

function regexParts(value: unknown): [string, string] {
  if (value instanceof RegExp) return [value.source, value.flags];
  const re = value as { pattern: string; options: string };
  return [re.pattern, re.options];
}

/** The fields of an object-typed value in order (a DBRef is stored as {$ref, $id, $db, ...}). */
function entriesOf(value: unknown): Array<[string, unknown]> {
  if (isPlainObject(value)) return Object.entries(value);
  if (bsonTag(value as object) === "DBRef") {
    const ref = value as { collection: string; oid: unknown; db?: string; fields: object };
    const entries: Array<[string, unknown]> = [
      ["$ref", ref.collection],
      ["$id", ref.oid],
    ];
    if (ref.db) entries.push(["$db", ref.db]);
    return entries.concat(Object.entries(ref.fields ?? {}));
  }
  return [];
}

function compareSequences(a: Array<[string, unknown]>, b: Array<[string, unknown]>): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const [keyA, valueA] = a[i] as [string, unknown];
    const [keyB, valueB] = b[i] as [string, unknown];
    const rankDiff = rankOf(valueA) - rankOf(valueB);
    if (rankDiff !== 0) return rankDiff < 0 ? -1 : 1;
    const keyDiff = compareStrings(keyA, keyB);
    if (keyDiff !== 0) return keyDiff;
    const valueDiff = compareBson(valueA, valueB);
    if (valueDiff !== 0) return valueDiff;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** MongoDB's total order over BSON values (missing ranks with undefined, below null). */
export function compareBson(a: unknown, b: unknown): number {
  if (a === b) return 0;
  const rankA = rankOf(a);
  const rankB = rankOf(b);
  if (rankA !== rankB) return rankA < rankB ? -1 : 1;
  switch (rankA) {
    case -1:
    case 0:
    case 5:
    case 127:
      return 0;
    case 10:
      return compareNumbers(a, b);
    case 15:
      return compareStrings(textOf(a), textOf(b));
    case 20:
      return compareSequences(entriesOf(a), entriesOf(b));
    case 25: {
      const x = a as unknown[];
      const y = b as unknown[];
      return compareSequences(
        x.map((v, i) => [String(i), v]),
        y.map((v, i) => [String(i), v]),
      );
    }
    case 30:
      return compareBinary(a, b);
    case 35:
      return compareStrings(
        (a as { toHexString(): string }).toHexString(),
        (b as { toHexString(): string }).toHexString(),
      );
    case 40:
      return a === b ? 0 : a ? 1 : -1;
    case 45: {
      const x = (a as Date).getTime();
      const y = (b as Date).getTime();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 47: {
      const x = (a as Long).toBigInt() & 0xffffffffffffffffn;
      const y = (b as Long).toBigInt() & 0xffffffffffffffffn;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 50: {
      const [patternA, flagsA] = regexParts(a);
      const [patternB, flagsB] = regexParts(b);
      return compareStrings(patternA, patternB) || compareStrings(flagsA, flagsB);
    }
    case 60:
    case 65: {
      const codeA = String((a as { code: unknown }).code);
      const codeB = String((b as { code: unknown }).code);
      return (
        compareStrings(codeA, codeB) ||
        compareSequences(
          entriesOf((a as { scope?: unknown }).scope ?? {}),
          entriesOf((b as { scope?: unknown }).scope ?? {}),
        )
      );
    }
  }
  return 0;
}

export function equalBson(a: unknown, b: unknown): boolean {
  if (a === b) return a !== MISSING || b === MISSING;
  if (typeof a === "string" || typeof b === "string") {
    return rankOf(a) === 15 && rankOf(b) === 15 && textOf(a) === textOf(b);
  }
  return rankOf(a) === rankOf(b) && compareBson(a, b) === 0;
}

/**
 * A string equal for two values exactly when `compareBson` says they are equal (numbers of any
 * width by value, documents field by field in order), used to group and to look values up.
 */
export function groupKey(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `s${value}`;
    case "boolean":
      return value ? "b1" : "b0";
    case "number":
      if (Number.isInteger(value)) return `n${BigInt(value)}`;
      return Number.isNaN(value) ? "nNaN" : `f${value}`;
    case "bigint":
      return `n${value}`;
    case "undefined":
      return "u";
  }
  if (value === null) return "u";
  if (value === MISSING) return "m";
  if (Array.isArray(value)) return `[${value.map(groupKey).join(",")}]`;
  if (value instanceof Date) return `t${value.getTime()}`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .map((key) => `${JSON.stringify(key)}:${groupKey(value[key])}`)
      .join(",")}}`;
  }
  switch (kindOf(value)) {
    case "int":
    case "double":
    case "long":
      return groupKey(numericOf(value));
    case "decimal": {
      const exact = exactOfDecimal(value as Decimal128);
      if ("nan" in exact) return "nNaN";
      if ("inf" in exact) return `f${exact.inf > 0 ? "Infinity" : "-Infinity"}`;
      if (exact.exp >= 0) return `n${exact.coef * 10n ** BigInt(exact.exp)}`;
      const scale = 10n ** BigInt(-exact.exp);
      if (exact.coef % scale === 0n) return `n${exact.coef / scale}`;
      const asNumber = Number((value as Decimal128).toString());
      if (compareExact(exact, exactOfNumber(asNumber)) === 0) return `f${asNumber}`;
      return `d${(value as Decimal128).toString()}`;
    }
    case "symbol":
      return `s${textOf(value)}`;
    case "binData": {
      const bin = value as Binary;
      return `x${bin.sub_type}:${Buffer.from(bytesOf(bin)).toString("base64")}`;
    }
    case "objectId":
      return `o${(value as { toHexString(): string }).toHexString()}`;
    case "regex": {
      const [pattern, flags] = regexParts(value);
      return `r${pattern}/${flags}`;
    }
    case "timestamp":
      return `T${(value as Long).toBigInt()}`;
    case "minKey":
      return "<";
    case "maxKey":
      return ">";
    case "object":
      return groupKey(Object.fromEntries(entriesOf(value)));
  }
  return `?${String(value)}`;
}

// ---------------------------------------------------------------------------------------------
// Typed numbers (aggregation arithmetic)

export type NumberType = "int" | "long" | "double" | "decimal";

/** The BSON number type of `value`, or undefined when it is not a number. */
export function numberTypeOf(value: unknown): NumberType | undefined {
  const kind = kindOf(value);
  return kind === "int" || kind === "long" || kind === "double" || kind === "decimal"
    ? kind
    : undefined;
}

const WIDTH: Record<NumberType, number> = { int: 0, long: 1, double: 2, decimal: 3 };

export function widerType(a: NumberType, b: NumberType): NumberType {
  return WIDTH[a] >= WIDTH[b] ? a : b;
}

/** The value of a number as a JS double. */
export function toDouble(value: unknown): number {
  const n = numericOf(value);
  if (typeof n === "number") return n;
  if (typeof n === "bigint") return Number(n);
  return Number(n.toString());
}

/** The value of an integral (int or long) number as a bigint. */
export function toBigInt(value: unknown): bigint {
  const n = numericOf(value);
  if (typeof n === "bigint") return n;
  if (typeof n === "number") return BigInt(Math.trunc(n));
  return BigInt(Math.trunc(Number(n.toString())));
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

/** A double as it must be kept to come back as a BSON Double. */
export function doubleValue(n: number): unknown {
  return Number.isInteger(n) || Object.is(n, -0) ? new Double(n) : n;
}

/** A long as it must be kept to come back as a BSON Int64. */
export function longValue(n: bigint): unknown {
  return Long.fromBigInt(n);
}

/** An int result, promoted to long outside 32 bits as mongod does. */
export function intValue(n: number): unknown {
  return n >= INT32_MIN && n <= INT32_MAX ? n : longValue(BigInt(n));
}

/** The in-memory form of a typed value: a plain number where that keeps its type, else a bigint. */
export function plainNumber(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  switch (bsonTag(value)) {
    case "Int32":
    case "Double":
      return (value as { value: number }).value;
    case "Long": {
      const big = (value as Long).toBigInt();
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(big)
        : big;
    }
  }
  return value;
}

/** Deep copy of `value` with typed numbers made plain (shares what needs no change). */
export function plainDeep(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = plainDeep(value[i]);
      if (item !== value[i]) {
        out ??= value.slice();
        out[i] = item;
      }
    }
    return out ?? value;
  }
  if (isPlainObject(value)) {
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const item = plainDeep(value[key]);
      if (item !== value[key]) {
        out ??= { ...value };
        out[key] = item;
      }
    }
    return out ?? value;
  }
  return plainNumber(value);
}

/** A BinData's bytes, for `$bits*` tests. */
export function binaryBytes(value: unknown): Uint8Array {
  return bytesOf(value);
}

export { Binary };
