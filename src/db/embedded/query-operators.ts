/**
 * Query operators that replace mingo's own where BSON types matter: comparisons ($eq, $ne, $gt,
 * $gte, $lt, $lte, $in, $nin) follow mongod's type bracketing and compare numbers of every width
 * by exact value and BinData by length/subtype/bytes; `$type` knows every BSON type; `$all`
 * is an AND of equalities (so it matches a scalar equal to its only element); `$bits*` test
 * numbers as 64-bit two's complement and BinData as little-endian bit masks; `$mod` works on
 * Int64 values. Paths are walked as mongod's matcher does (path.cpp): the values at the end of a
 * path are the elements of a leaf array and then the array itself; arrays on the way are
 * traversed into their documents, and a numeric component also selects the element at that index.
 */
import { Long } from "bson";
import type { Options } from "mingo/types";
import {
  type BsonKind,
  binaryBytes,
  compareBson,
  equalBson,
  groupKey,
  isNaNNumber,
  isNumberKind,
  kindOf,
  MISSING,
  rankOf,
} from "./bson-types.ts";
import { badValue, ErrorCode, StoreError } from "./errors.ts";
import { type Doc, formatForMessage, isPlainObject } from "./values.ts";

type Predicate = (obj: Doc) => boolean;
type ValueTest = (value: unknown) => boolean;
type QueryOperator = (selector: string, value: unknown, options: Options) => Predicate;

function isDigits(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** True when `test` holds for some value mongod's matcher would test at `parts[i..]` under `node`. */
export function someValue(node: unknown, parts: string[], i: number, test: ValueTest): boolean {
  let current = node;
  let depth = i;
  while (depth < parts.length && !Array.isArray(current)) {
    if (!isPlainObject(current)) return test(MISSING);
    const key = parts[depth] as string;
    if (!Object.hasOwn(current, key)) return test(MISSING);
    current = current[key];
    depth++;
  }
  if (!Array.isArray(current)) return test(current);
  if (depth === parts.length) {
    for (const item of current) if (test(item)) return true;
    return test(current);
  }
  return someInArray(current, parts, depth, test);
}

function someInArray(array: unknown[], parts: string[], depth: number, test: ValueTest): boolean {
  const key = parts[depth] as string;
  const index = isDigits(key) ? Number(key) : -1;
  const last = depth + 1 === parts.length;
  for (let k = 0; k < array.length; k++) {
    const item = array[k];
    if (isPlainObject(item) && someValue(item, parts, depth, test)) return true;
    if (k !== index) continue;
    if (last) {
      if (test(item)) return true;
    } else if (isPlainObject(item)) {
      if (someValue(item, parts, depth + 1, test)) return true;
    } else if (Array.isArray(item) && someInArray(item, parts, depth + 1, test)) {
      return true;
    }
  }
  return false;
}

function leaf(selector: string, test: ValueTest): Predicate {
  const parts = selector.split(".");
  if (parts.length === 1) {
    return (obj) => {
      if (!isPlainObject(obj) || !Object.hasOwn(obj, selector)) return test(MISSING);
      const value = obj[selector];
      if (!Array.isArray(value)) return test(value);
      for (const item of value) if (test(item)) return true;
      return test(value);
    };
  }
  return (obj) => someValue(obj, parts, 0, test);
}

function isRegex(value: unknown): boolean {
  return value instanceof RegExp || kindOf(value) === "regex";
}

function isNullish(value: unknown): boolean {
  return value === null || value === undefined || value === MISSING;
}

/** `{$eq: rhs}` for one value, as mongod's EqualityMatchExpression. */
export function equalityTest(rhs: unknown): ValueTest {
  if (rhs === null || rhs === undefined) return isNullish;
  switch (typeof rhs) {
    case "string":
      return (value) => value === rhs || (kindOf(value) === "symbol" && equalBson(value, rhs));
    case "boolean":
      return (value) => value === rhs;
    case "number":
      if (!Number.isNaN(rhs)) {
        return (value) =>
          value === rhs ||
          (typeof value === "object" && value !== null && rankOf(value) === 10
            ? equalBson(value, rhs)
            : typeof value === "bigint" && equalBson(value, rhs));
      }
  }
  const rank = rankOf(rhs);
  return (value) => value !== MISSING && rankOf(value) === rank && compareBson(value, rhs) === 0;
}

type RangeOp = "$gt" | "$gte" | "$lt" | "$lte";

/** `{$gt: rhs}` and friends for one value, as mongod's ComparisonMatchExpression. */
function rangeTest(op: RangeOp, rhs: unknown): ValueTest {
  const rhsRank = rankOf(rhs);
  const inclusive = op === "$gte" || op === "$lte";
  const below = op === "$lt" || op === "$lte";
  const rhsNaN = isNaNNumber(rhs);
  const rhsKind = kindOf(rhs);
  return (value) => {
    const rank = rankOf(value);
    if (rank !== rhsRank) {
      // null and undefined/missing compare equal; MinKey/MaxKey bound every other type.
      if (rank + rhsRank === 5) return inclusive;
      if (rhsKind === "maxKey") return below;
      if (rhsKind === "minKey") return !below;
      return false;
    }
    if (rank === 10 && (rhsNaN || isNaNNumber(value))) {
      return inclusive && rhsNaN && isNaNNumber(value);
    }
    const order = compareBson(value, rhs);
    if (order === 0) return inclusive;
    return below ? order < 0 : order > 0;
  };
}

function regexTest(pattern: unknown): ValueTest {
  const [source, flags] =
    pattern instanceof RegExp
      ? [pattern.source, pattern.flags]
      : [(pattern as { pattern: string }).pattern, (pattern as { options: string }).options];
  const re =
    pattern instanceof RegExp ? pattern : new RegExp(source, flags.replace(/[^imsu]/g, ""));
  return (value) => {
    if (typeof value === "string") {
      re.lastIndex = 0;
      return re.test(value);
    }
    const kind = kindOf(value);
    if (kind === "symbol") {
      re.lastIndex = 0;
      return re.test(String((value as { value: unknown }).value));
    }
    if (kind === "regex") return compareBson(value, pattern) === 0;
    return false;
  };
}

const $eq: QueryOperator = (selector, rhs) => leaf(selector, equalityTest(rhs));

const $ne: QueryOperator = (selector, rhs) => {
  if (isRegex(rhs)) throw badValue("Can't have regex as arg to $ne.");
  const matches = leaf(selector, equalityTest(rhs));
  return (obj) => !matches(obj);
};

function rangeOperator(op: RangeOp): QueryOperator {
  return (selector, rhs) => {
    if (isRegex(rhs)) {
      throw badValue(`Can't have RegEx as arg to predicate over field '${selector}'.`);
    }
    return leaf(selector, rangeTest(op, rhs));
  };
}

function isOperatorDocument(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const first = Object.keys(value)[0];
  return first?.startsWith("$") === true && !Object.hasOwn(value, "$ref");
}

/** Membership in an `$in` list: equalities by group key, regexes by pattern, null by nullishness. */
function inTest(name: string, list: unknown): ValueTest {
  if (!Array.isArray(list)) throw badValue(`${name} needs an array`);
  const keys = new Set<string>();
  const regexes: ValueTest[] = [];
  let hasNull = false;
  for (const item of list) {
    if (isOperatorDocument(item)) throw badValue("cannot nest $ under $in");
    if (isRegex(item)) regexes.push(regexTest(item));
    else if (item === null || item === undefined) hasNull = true;
    else keys.add(groupKey(item));
  }
  return (value) => {
    if (isNullish(value)) return hasNull;
    if (keys.size > 0 && keys.has(groupKey(value))) return true;
    for (const test of regexes) if (test(value)) return true;
    return false;
  };
}

const $in: QueryOperator = (selector, list) => leaf(selector, inTest("$in", list));

const $nin: QueryOperator = (selector, list) => {
  const matches = leaf(selector, inTest("$nin", list));
  return (obj) => !matches(obj);
};

const $all: QueryOperator = (selector, list, options) => {
  if (!Array.isArray(list)) throw badValue("$all needs an array");
  if (list.length === 0) return () => false;
  const first = list[0];
  if (isPlainObject(first) && Object.keys(first)[0] === "$elemMatch") {
    const elemMatch = options.context?.getOperator("query" as never, "$elemMatch") as
      | QueryOperator
      | null
      | undefined;
    const clauses = list.map((item) => {
      if (!isPlainObject(item) || Object.keys(item)[0] !== "$elemMatch") {
        throw badValue("$all/$elemMatch has to be consistent");
      }
      if (!elemMatch) throw badValue("$elemMatch is not available");
      return elemMatch(selector, item.$elemMatch, options);
    });
    return (obj) => clauses.every((clause) => clause(obj));
  }
  const clauses = list.map((item) => {
    if (isOperatorDocument(item)) throw badValue("no $ expressions in $all");
    return leaf(selector, isRegex(item) ? regexTest(item) : equalityTest(item));
  });
  return (obj) => clauses.every((clause) => clause(obj));
};

// ---------------------------------------------------------------------------------------------
// $type

const TYPE_ALIASES: Record<string, BsonKind> = {
  double: "double",
  string: "string",
  object: "object",
  array: "array",
  binData: "binData",
  undefined: "undefined",
  objectId: "objectId",
  bool: "bool",
  date: "date",
  null: "null",
  regex: "regex",
  dbPointer: "dbPointer",
  javascript: "javascript",
  symbol: "symbol",
  javascriptWithScope: "javascriptWithScope",
  int: "int",
  timestamp: "timestamp",
  long: "long",
  decimal: "decimal",
  minKey: "minKey",
  maxKey: "maxKey",
};

const TYPE_CODES: Record<number, BsonKind> = {
  1: "double",
  2: "string",
  3: "object",
  4: "array",
  5: "binData",
  6: "undefined",
  7: "objectId",
  8: "bool",
  9: "date",
  10: "null",
  11: "regex",
  12: "dbPointer",
  13: "javascript",
  14: "symbol",
  15: "javascriptWithScope",
  16: "int",
  17: "timestamp",
  18: "long",
  19: "decimal",
  [-1]: "minKey",
  127: "maxKey",
};

interface TypeSet {
  kinds: Set<BsonKind>;
  allNumbers: boolean;
}

function addType(spec: unknown, set: TypeSet): void {
  if (typeof spec === "string") {
    if (spec === "number") {
      set.allNumbers = true;
      return;
    }
    const kind = Object.hasOwn(TYPE_ALIASES, spec) ? TYPE_ALIASES[spec] : undefined;
    if (kind) {
      set.kinds.add(kind);
      return;
    }
    if (spec === "missing") {
      throw badValue(
        "'missing' is not a legal type name. To query for non-existence of a field, use {$exists:false}.",
      );
    }
    throw badValue(`Unknown type name alias: ${spec}`);
  }
  if (!isNumberKind(kindOf(spec))) {
    throw new StoreError(
      ErrorCode.TypeMismatch,
      "type must be represented as a number or a string",
    );
  }
  const code = Number(typeof spec === "object" ? (spec as { valueOf(): unknown }).valueOf() : spec);
  if (code === 0) {
    throw badValue(`Invalid numerical type code: ${code}. Instead use {$exists:false}.`);
  }
  const kind = Number.isInteger(code) ? TYPE_CODES[code] : undefined;
  if (!kind) throw badValue(`Invalid numerical type code: ${formatForMessage(spec)}`);
  set.kinds.add(kind);
}

/** Parses a `$type` operand (an alias, a code, or an array of them) as mongod's MatcherTypeSet. */
export function parseTypeSet(spec: unknown, name = "$type"): TypeSet {
  const set: TypeSet = { kinds: new Set(), allNumbers: false };
  if (Array.isArray(spec)) for (const item of spec) addType(item, set);
  else addType(spec, set);
  if (set.kinds.size === 0 && !set.allNumbers) {
    throw new StoreError(ErrorCode.FailedToParse, `${name} must match at least one type`);
  }
  return set;
}

const $type: QueryOperator = (selector, spec) => {
  const { kinds, allNumbers } = parseTypeSet(spec);
  return leaf(selector, (value) => {
    if (value === MISSING) return false;
    const kind = kindOf(value);
    if (kind === undefined) return false;
    return kinds.has(kind) || (allNumbers && isNumberKind(kind));
  });
};

// ---------------------------------------------------------------------------------------------
// $bitsAllSet / $bitsAllClear / $bitsAnySet / $bitsAnyClear

type BitOp = "$bitsAllSet" | "$bitsAllClear" | "$bitsAnySet" | "$bitsAnyClear";

const INT64_LIMIT = 2 ** 63;
const MASK64 = (1n << 64n) - 1n;

/** An integral number's 64-bit two's complement, or undefined when it has none. */
function int64Of(value: unknown): bigint | undefined {
  const kind = kindOf(value);
  if (!isNumberKind(kind)) return undefined;
  if (typeof value === "bigint") return value;
  if (kind === "long") return BigInt(String(value));
  const n = Number(
    kind === "decimal" ? String(value) : typeof value === "number" ? value : Number(value),
  );
  if (!Number.isInteger(n) || n >= INT64_LIMIT || n < -INT64_LIMIT) return undefined;
  return BigInt(n);
}

function describe(name: string, value: unknown): string {
  return `${name}: ${formatForMessage(value)}`;
}

function bitPositions(name: string, spec: unknown): number[] {
  if (Array.isArray(spec)) {
    return spec.map((item) => {
      const kind = kindOf(item);
      if (!isNumberKind(kind)) {
        throw badValue(`bit positions must be an integer but got: ${describe("0", item)}`);
      }
      const n = Number(typeof item === "object" ? String(item) : item);
      if (Number.isNaN(n))
        throw badValue(`bit positions cannot take a NaN: ${describe("0", item)}`);
      if (n > 2 ** 31 - 1 || n < -(2 ** 31)) {
        throw badValue(
          `bit positions cannot be represented as a 32-bit signed integer: ${describe("0", item)}`,
        );
      }
      if (!Number.isInteger(n)) {
        throw badValue(`bit positions must be an integer but got: ${describe("0", item)}`);
      }
      if (n < 0) throw badValue(`bit positions must be >= 0 but got: ${describe("0", item)}`);
      return n;
    });
  }
  const kind = kindOf(spec);
  if (isNumberKind(kind)) {
    const mask = int64Of(spec);
    if (mask === undefined) {
      throw new StoreError(ErrorCode.FailedToParse, `Expected an integer: ${describe(name, spec)}`);
    }
    if (mask < 0n) {
      throw new StoreError(
        ErrorCode.FailedToParse,
        `Expected a positive number in: ${describe(name, spec)}`,
      );
    }
    const positions: number[] = [];
    for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) positions.push(bit);
    return positions;
  }
  if (kind === "binData") {
    const bytes = binaryBytes(spec);
    const positions: number[] = [];
    for (let byte = 0; byte < bytes.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        if (((bytes[byte] as number) >> bit) & 1) positions.push(byte * 8 + bit);
      }
    }
    return positions;
  }
  throw badValue(
    `${name} takes an Array, a number, or a BinData but received: ${describe(name, spec)}`,
  );
}

function bitOperator(op: BitOp): QueryOperator {
  const all = op === "$bitsAllSet" || op === "$bitsAllClear";
  const wantSet = op === "$bitsAllSet" || op === "$bitsAnySet";
  return (selector, spec) => {
    const positions = bitPositions(op, spec);
    let mask = 0n;
    // Bits past 63 test the sign bit: numbers are sign-extended.
    for (const position of positions) mask |= 1n << BigInt(Math.min(position, 63));
    return leaf(selector, (value) => {
      const kind = kindOf(value);
      if (kind === "binData") {
        const bytes = binaryBytes(value);
        const hit = (position: number) => {
          const byte = position >> 3;
          const set =
            byte < bytes.length && (((bytes[byte] as number) >> (position & 7)) & 1) === 1;
          return set === wantSet;
        };
        return all ? positions.every(hit) : positions.some(hit);
      }
      const n = int64Of(value);
      if (n === undefined) return false;
      const bits = BigInt.asUintN(64, n) & MASK64;
      const selected = wantSet ? bits & mask : ~bits & mask;
      return all ? selected === mask : selected !== 0n;
    });
  };
}

// ---------------------------------------------------------------------------------------------
// $mod

const $mod: QueryOperator = (selector, spec) => {
  if (!Array.isArray(spec)) throw badValue("malformed mod, needs to be an array");
  if (spec.length < 2) throw badValue("malformed mod, not enough elements");
  if (spec.length > 2) throw badValue("malformed mod, too many elements");
  const [divisorSpec, remainderSpec] = spec;
  if (!isNumberKind(kindOf(divisorSpec))) throw badValue("malformed mod, divisor not a number");
  if (!isNumberKind(kindOf(remainderSpec))) {
    throw badValue("malformed mod, remainder not a number");
  }
  const toLong = (value: unknown, what: string): bigint => {
    const n = typeof value === "bigint" ? value : Number(String(plain(value)));
    if (typeof n === "bigint") return n;
    if (!Number.isFinite(n))
      throw badValue(`malformed mod, ${what} value is invalid :: caused by :: ${n}`);
    return BigInt(Math.trunc(n));
  };
  const divisor = toLong(divisorSpec, "divisor");
  const remainder = toLong(remainderSpec, "remainder");
  if (divisor === 0n) throw badValue("divisor cannot be 0");
  return leaf(selector, (value) => {
    const kind = kindOf(value);
    if (!isNumberKind(kind)) return false;
    let dividend: bigint;
    if (typeof value === "bigint") dividend = value;
    else {
      const n = Number(String(plain(value)));
      if (!Number.isFinite(n)) return false;
      dividend = BigInt(Math.trunc(n));
    }
    return dividend % divisor === remainder;
  });
};

function plain(value: unknown): unknown {
  if (value !== null && typeof value === "object" && "value" in (value as object)) {
    return (value as { value: unknown }).value;
  }
  return value;
}

/** The operators registered over mingo's in every query context. */
export const QUERY_OPERATORS: Record<string, QueryOperator> = {
  $eq,
  $ne,
  $gt: rangeOperator("$gt"),
  $gte: rangeOperator("$gte"),
  $lt: rangeOperator("$lt"),
  $lte: rangeOperator("$lte"),
  $in,
  $nin,
  $all,
  $type,
  $mod,
  $bitsAllSet: bitOperator("$bitsAllSet"),
  $bitsAllClear: bitOperator("$bitsAllClear"),
  $bitsAnySet: bitOperator("$bitsAnySet"),
  $bitsAnyClear: bitOperator("$bitsAnyClear"),
};

/** What a filter holds that changes how it is compiled. */
export interface FilterTraits {
  /** `$expr` somewhere: the filter needs expression operators. */
  expressions: boolean;
  /** `$type` somewhere: documents are matched with their numbers typed (values.ts `toWire`). */
  types: boolean;
  /** An Int64 beyond 2^53 (a bigint), which mingo cannot take as it is (see `withLongs`). */
  bigints: boolean;
}

export function filterTraits(
  value: unknown,
  traits: FilterTraits = { expressions: false, types: false, bigints: false },
): FilterTraits {
  if (typeof value === "bigint") traits.bigints = true;
  else if (Array.isArray(value)) for (const item of value) filterTraits(item, traits);
  else if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      if (key === "$expr") traits.expressions = true;
      else if (key === "$type") traits.types = true;
      filterTraits(value[key], traits);
    }
  }
  return traits;
}

/** The filter with bigints as bson Longs: mingo JSON-stringifies a filter, which no bigint survives. */
export function withLongs(value: unknown): unknown {
  if (typeof value === "bigint") return Long.fromBigInt(value);
  if (Array.isArray(value)) return value.map(withLongs);
  if (!isPlainObject(value)) return value;
  const out: Doc = {};
  for (const key of Object.keys(value)) out[key] = withLongs(value[key]);
  return out;
}
