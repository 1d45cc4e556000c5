/**
 * The operator tables the store gives mingo, with mingo's own operators replaced where BSON types
 * matter (see query-operators.ts for queries).
 *
 * Aggregation runs over documents whose numbers carry their BSON type (values.ts `toWire`: an
 * integral Double is a bson `Double`, an Int64 a `Long` or `bigint`, a plain number is an Int32
 * when integral and a Double otherwise). The operators below compute with those types as mongod
 * does: `$add`/`$subtract`/`$multiply`/`$sum` promote int < long < double < decimal (an int
 * result beyond 32 bits becomes a long, a long beyond 64 bits a double), `$divide`/`$avg` give
 * doubles, `$min`/`$max`/`$first` keep the value they pick, `$group` groups numerically equal
 * keys together and `$sort` orders by BSON comparison. Every other expression operator mingo has
 * sees plain JS numbers (typed values are made plain before it runs), so it works as before and
 * its numeric results come back as JS numbers would.
 */
import { Decimal128 } from "bson";
import { Context, evalExpr } from "mingo/core";
import { Lazy, type Iterator as LazyIterator } from "mingo/lazy";
import * as accumulatorOperators from "mingo/operators/accumulator";
import * as expressionOperators from "mingo/operators/expression";
import * as pipelineOperators from "mingo/operators/pipeline";
import * as projectionOperators from "mingo/operators/projection";
import * as queryOperators from "mingo/operators/query";
import * as windowOperators from "mingo/operators/window";
import type { Options } from "mingo/types";
import {
  compareBson,
  compareStrings,
  doubleValue,
  equalBson,
  fitsInt64,
  groupKey,
  intValue,
  isNumberKind,
  kindOf,
  longValue,
  MISSING,
  type NumberType,
  numberTypeOf,
  plainDeep,
  toBigInt,
  toDouble,
  widerType,
} from "./bson-types.ts";
import { ErrorCode, StoreError } from "./errors.ts";
import { QUERY_OPERATORS } from "./query-operators.ts";
import { type Doc, valuesAtPath } from "./values.ts";

type AnyOptions = Options & { local?: Record<string, unknown> };
type ExpressionOperator = (obj: unknown, expr: unknown, options: AnyOptions) => unknown;
type AccumulatorOperator = (coll: unknown[], expr: unknown, options: AnyOptions) => unknown;
type PipelineOperator = (coll: LazyIterator, expr: unknown, options: AnyOptions) => LazyIterator;
interface ComputeOptionsClass {
  init(options: unknown): AnyOptions & { update(locals: Record<string, unknown>): AnyOptions };
}

/** mingo's ComputeOptions class is not exported; an operator receives an instance of it. */
const ComputeOptions: ComputeOptionsClass = (() => {
  const probe = evalExpr({}, { $probe: null }, {
    context: Context.init({
      expression: { $probe: (_obj: unknown, _expr: unknown, options: unknown) => options },
    } as never),
  } as never) as { constructor: ComputeOptionsClass };
  return probe.constructor;
})();

function evaluate(obj: unknown, expr: unknown, options: AnyOptions): unknown {
  return evalExpr(obj as never, expr as never, options as never);
}

function isPlainMode(options: AnyOptions): boolean {
  return options?.local?.plain === true;
}

function typeError(code: number, message: string): StoreError {
  return new StoreError(code, message);
}

function typeName(value: unknown): string {
  if (value === undefined || value === MISSING) return "missing";
  return kindOf(value) ?? "missing";
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

/** The sum (or product) of typed numbers, typed as mongod types it. */
function combine(values: unknown[], op: "+" | "*"): unknown {
  let type: NumberType = "int";
  for (const value of values) type = widerType(type, numberTypeOf(value) as NumberType);
  const asDouble = () => {
    let result = op === "+" ? 0 : 1;
    for (const value of values)
      result = op === "+" ? result + toDouble(value) : result * toDouble(value);
    return result;
  };
  if (type === "decimal") return Decimal128.fromString(String(asDouble()));
  if (type === "double") return doubleValue(asDouble());
  let result = op === "+" ? 0n : 1n;
  for (const value of values)
    result = op === "+" ? result + toBigInt(value) : result * toBigInt(value);
  if (!fitsInt64(result)) return doubleValue(asDouble());
  return type === "int" ? intValue(Number(result)) : longValue(result);
}

const $add: ExpressionOperator = (obj, expr, options) => {
  const args = evaluate(obj, expr, options);
  const list = Array.isArray(args) ? args : [args];
  let date: Date | undefined;
  const numbers: unknown[] = [];
  for (const value of list) {
    if (value === null || value === undefined) return null;
    if (value instanceof Date) {
      if (date) throw typeError(16612, "only one date allowed in an $add expression");
      date = value;
    } else if (isNumberKind(kindOf(value))) numbers.push(value);
    else {
      throw typeError(
        ErrorCode.TypeMismatch,
        `$add only supports numeric or date types, not ${typeName(value)}`,
      );
    }
  }
  if (date) {
    const total = numbers.reduce<number>((sum, value) => sum + toDouble(value), date.getTime());
    return new Date(Math.round(total));
  }
  return combine(numbers, "+");
};

const $multiply: ExpressionOperator = (obj, expr, options) => {
  const args = evaluate(obj, expr, options);
  const list = Array.isArray(args) ? args : [args];
  for (const value of list) {
    if (value === null || value === undefined) return null;
    if (!isNumberKind(kindOf(value))) {
      throw typeError(
        ErrorCode.TypeMismatch,
        `$multiply only supports numeric types, not ${typeName(value)}`,
      );
    }
  }
  return combine(list, "*");
};

function twoArgs(
  name: string,
  obj: unknown,
  expr: unknown,
  options: AnyOptions,
): [unknown, unknown] {
  const args = evaluate(obj, expr, options);
  if (!Array.isArray(args) || args.length !== 2) {
    throw typeError(
      16020,
      `Expression ${name} takes exactly 2 arguments. ${Array.isArray(args) ? args.length : 1} were passed in.`,
    );
  }
  return [args[0], args[1]];
}

const $subtract: ExpressionOperator = (obj, expr, options) => {
  const [a, b] = twoArgs("$subtract", obj, expr, options);
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (a instanceof Date) {
    if (b instanceof Date) return longValue(BigInt(a.getTime() - b.getTime()));
    if (isNumberKind(kindOf(b))) return new Date(Math.round(a.getTime() - toDouble(b)));
  } else if (isNumberKind(kindOf(a)) && isNumberKind(kindOf(b))) {
    const type = widerType(numberTypeOf(a) as NumberType, numberTypeOf(b) as NumberType);
    const asDouble = toDouble(a) - toDouble(b);
    if (type === "decimal") return Decimal128.fromString(String(asDouble));
    if (type === "double") return doubleValue(asDouble);
    const exact = toBigInt(a) - toBigInt(b);
    if (!fitsInt64(exact)) return doubleValue(asDouble);
    return type === "int" ? intValue(Number(exact)) : longValue(exact);
  }
  throw typeError(16556, `can't $subtract ${typeName(b)} from ${typeName(a)}`);
};

const $divide: ExpressionOperator = (obj, expr, options) => {
  const [a, b] = twoArgs("$divide", obj, expr, options);
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (!isNumberKind(kindOf(a)) || !isNumberKind(kindOf(b))) {
    throw typeError(
      ErrorCode.TypeMismatch,
      `$divide only supports numeric types, not ${typeName(a)} and ${typeName(b)}`,
    );
  }
  if (toDouble(b) === 0) throw typeError(ErrorCode.BadValue, "can't $divide by zero");
  const quotient = toDouble(a) / toDouble(b);
  if (numberTypeOf(a) === "decimal" || numberTypeOf(b) === "decimal") {
    return Decimal128.fromString(String(quotient));
  }
  return doubleValue(quotient);
};

const $mod: ExpressionOperator = (obj, expr, options) => {
  const [a, b] = twoArgs("$mod", obj, expr, options);
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (!isNumberKind(kindOf(a)) || !isNumberKind(kindOf(b))) {
    throw typeError(
      16611,
      `$mod only supports numeric types, not ${typeName(a)} and ${typeName(b)}`,
    );
  }
  const type = widerType(numberTypeOf(a) as NumberType, numberTypeOf(b) as NumberType);
  if (toDouble(b) === 0) throw typeError(16610, "can't $mod by zero");
  if (type === "int" || type === "long") {
    const result = toBigInt(a) % toBigInt(b);
    return type === "int" ? intValue(Number(result)) : longValue(result);
  }
  const result = toDouble(a) % toDouble(b);
  return type === "decimal" ? Decimal128.fromString(String(result)) : doubleValue(result);
};

/** A unary numeric operator that keeps its argument's type. */
function typePreserving(name: string, fn: (n: number) => number): ExpressionOperator {
  return (obj, expr, options) => {
    let value = evaluate(obj, expr, options);
    if (Array.isArray(value)) {
      if (value.length !== 1) {
        throw typeError(
          16020,
          `Expression ${name} takes exactly 1 arguments. ${value.length} were passed in.`,
        );
      }
      value = value[0];
    }
    if (value === null || value === undefined) return null;
    switch (numberTypeOf(value)) {
      case "int": {
        const result = fn(toDouble(value));
        return intValue(result);
      }
      case "long": {
        if (name === "$abs") {
          const big = toBigInt(value);
          const abs = big < 0n ? -big : big;
          return fitsInt64(abs) ? longValue(abs) : doubleValue(Number(abs));
        }
        return longValue(toBigInt(value));
      }
      case "double":
        return doubleValue(fn(toDouble(value)));
      case "decimal":
        return Decimal128.fromString(String(fn(toDouble(value))));
    }
    throw typeError(28765, `${name} only supports numeric types, not ${typeName(value)}`);
  };
}

/** A mingo operator whose numeric result mongod always types as a double. */
function doubleResult(operator: ExpressionOperator): ExpressionOperator {
  const plain = plainMode(operator);
  return (obj, expr, options) => {
    const result = plain(obj, expr, options);
    return typeof result === "number" && !isPlainMode(options) ? doubleValue(result) : result;
  };
}

/** `$round`/`$trunc` with a place: mingo computes the value, the input's type is kept. */
function rounding(operator: ExpressionOperator): ExpressionOperator {
  const plain = plainMode(operator);
  return (obj, expr, options) => {
    const args = Array.isArray(expr) ? expr : [expr];
    const input = evaluate(obj, args[0], options);
    const result = plain(obj, Array.isArray(expr) ? expr : [expr], options);
    if (typeof result !== "number" || isPlainMode(options)) return result;
    switch (numberTypeOf(input)) {
      case "int":
        return intValue(result);
      case "long":
        return longValue(BigInt(Math.trunc(result)));
      case "decimal":
        return Decimal128.fromString(String(result));
    }
    return doubleValue(result);
  };
}

// ---------------------------------------------------------------------------------------------
// Comparison and types

function comparable(value: unknown): unknown {
  return value === undefined ? MISSING : value;
}

function comparison(name: string, test: (order: number) => boolean): ExpressionOperator {
  return (obj, expr, options) => {
    const [a, b] = twoArgs(name, obj, expr, options);
    return test(compareBson(comparable(a), comparable(b)));
  };
}

const $cmp: ExpressionOperator = (obj, expr, options) => {
  const [a, b] = twoArgs("$cmp", obj, expr, options);
  return Math.sign(compareBson(comparable(a), comparable(b)));
};

const $in: ExpressionOperator = (obj, expr, options) => {
  const [value, list] = twoArgs("$in", obj, expr, options);
  if (!Array.isArray(list)) {
    throw typeError(40081, `$in requires an array as a second argument, found: ${typeName(list)}`);
  }
  return list.some((item) => equalBson(comparable(item), comparable(value)));
};

function single(name: string, obj: unknown, expr: unknown, options: AnyOptions): unknown {
  const value = evaluate(obj, expr, options);
  if (Array.isArray(expr)) {
    if (expr.length !== 1) {
      throw typeError(
        16020,
        `Expression ${name} takes exactly 1 arguments. ${expr.length} were passed in.`,
      );
    }
    return (value as unknown[])[0];
  }
  return value;
}

const $type: ExpressionOperator = (obj, expr, options) =>
  typeName(single("$type", obj, expr, options));

const $isNumber: ExpressionOperator = (obj, expr, options) =>
  isNumberKind(kindOf(single("$isNumber", obj, expr, options)));

function conversionError(value: unknown, to: string): StoreError {
  return typeError(
    241,
    `Unsupported conversion from ${typeName(value)} to ${to} in $convert with no onError value`,
  );
}

/** `$toInt`, `$toLong`, `$toDouble` of numbers, booleans, dates and numeric strings. */
function conversion(
  to: "int" | "long" | "double",
  fallback: ExpressionOperator,
): ExpressionOperator {
  const plainFallback = plainMode(fallback);
  return (obj, expr, options) => {
    const value = single(`$to${to[0]?.toUpperCase()}${to.slice(1)}`, obj, expr, options);
    if (value === null || value === undefined) return null;
    let n: number | bigint;
    if (typeof value === "boolean") n = value ? 1 : 0;
    else if (value instanceof Date) {
      if (to === "int") throw conversionError(value, to);
      n = value.getTime();
    } else if (isNumberKind(kindOf(value))) {
      n = numberTypeOf(value) === "long" ? toBigInt(value) : toDouble(value);
    } else if (typeof value === "string") return plainFallback(obj, expr, options);
    else throw conversionError(value, to);
    if (to === "double") return doubleValue(Number(n));
    if (typeof n === "number") {
      if (!Number.isFinite(n)) {
        throw typeError(
          241,
          `Attempt to convert ${Number.isNaN(n) ? "NaN" : "infinity"} value to integer type in $convert with no onError value`,
        );
      }
      n = BigInt(Math.trunc(n));
    }
    if (to === "int") {
      if (n < -(2n ** 31n) || n >= 2n ** 31n) {
        throw typeError(
          241,
          `Conversion would overflow target type in $convert with no onError value: ${n}`,
        );
      }
      return Number(n);
    }
    if (!fitsInt64(n)) {
      throw typeError(
        241,
        `Conversion would overflow target type in $convert with no onError value: ${n}`,
      );
    }
    return longValue(n);
  };
}

// ---------------------------------------------------------------------------------------------
// Accumulators

function accumulated(coll: unknown[], expr: unknown, options: AnyOptions): unknown[] {
  if (expr === null || expr === undefined) return coll;
  const push = accumulatorOperators.$push as unknown as AccumulatorOperator;
  return push(coll, expr, options) as unknown[];
}

const $sum: AccumulatorOperator = (coll, expr, options) => {
  const numbers = accumulated(coll, expr, options).filter((value) => isNumberKind(kindOf(value)));
  return numbers.length === 0 ? 0 : combine(numbers, "+");
};

const $avg: AccumulatorOperator = (coll, expr, options) => {
  const numbers = accumulated(coll, expr, options).filter((value) => isNumberKind(kindOf(value)));
  if (numbers.length === 0) return null;
  const mean = numbers.reduce<number>((sum, value) => sum + toDouble(value), 0) / numbers.length;
  return numbers.some((value) => numberTypeOf(value) === "decimal")
    ? Decimal128.fromString(String(mean))
    : doubleValue(mean);
};

function extreme(sign: 1 | -1): AccumulatorOperator {
  return (coll, expr, options) => {
    let best: unknown = null;
    let found = false;
    for (const value of accumulated(coll, expr, options)) {
      if (value === null || value === undefined || value === MISSING) continue;
      if (!found || sign * compareBson(value, best) > 0) {
        best = value;
        found = true;
      }
    }
    return best;
  };
}

// ---------------------------------------------------------------------------------------------
// Pipeline stages

const $group: PipelineOperator = (coll, expr, options) => {
  const spec = expr as Doc;
  if (spec === null || typeof spec !== "object" || !Object.hasOwn(spec, "_id")) {
    throw typeError(15955, "a group specification must include an _id");
  }
  const idExpr = spec._id;
  const fields = Object.keys(spec).filter((key) => key !== "_id");
  return coll.transform((items: unknown[]) => {
    const groups = new Map<string, { id: unknown; docs: unknown[] }>();
    for (const item of items) {
      const value = evaluate(item, idExpr, options);
      const id = value === undefined ? null : value;
      const key = groupKey(id);
      const group = groups.get(key);
      if (group) group.docs.push(item);
      else groups.set(key, { id, docs: [item] });
    }
    const out: Doc[] = [];
    for (const { id, docs } of groups.values()) {
      const doc: Doc = { _id: id };
      for (const field of fields) {
        doc[field] = evaluate(
          docs,
          spec[field],
          ComputeOptions.init(options).update({ root: null, groupId: id }),
        );
      }
      out.push(doc);
    }
    return Lazy(out);
  }) as LazyIterator;
};

/** The key a document sorts by on `path`: the smallest (ascending) or largest value there. */
function sortKey(doc: unknown, path: string, direction: 1 | -1): unknown {
  if (!path.includes(".") && doc !== null && typeof doc === "object") {
    const value = Object.hasOwn(doc, path) ? (doc as Doc)[path] : null;
    if (!Array.isArray(value)) return value === undefined ? null : value;
  }
  const values = valuesAtPath(doc, path);
  if (values.length === 0) return null;
  let best: unknown;
  let first = true;
  for (const raw of values) {
    // An empty array sorts before null and missing.
    const value = raw === undefined ? MISSING : raw;
    if (first || direction * compareBson(value, best) < 0) best = value;
    first = false;
  }
  return best;
}

const HIGH_UNITS = /[\ud800-\uffff]/;

/** Sorts documents as mongod does (BSON order, arrays by their smallest/largest element). */
export function sortDocs<T>(docs: T[], spec: Record<string, 1 | -1>): T[] {
  const keys = Object.entries(spec);
  const decorated = docs.map((doc, index) => ({
    doc,
    index,
    keys: keys.map(([path, direction]) => sortKey(doc, path, direction)),
  }));
  const nativeOrder = keys.map((_, k) =>
    decorated.every((entry) => {
      const key = entry.keys[k];
      return typeof key !== "string" || !HIGH_UNITS.test(key);
    }),
  );
  decorated.sort((a, b) => {
    for (let k = 0; k < keys.length; k++) {
      const direction = (keys[k] as [string, 1 | -1])[1];
      const x = a.keys[k];
      const y = b.keys[k];
      let order: number;
      if (typeof x === "string" && typeof y === "string") {
        // JS order is UTF-8 (code point) order unless surrogates meet U+E000..U+FFFF.
        order = x === y ? 0 : nativeOrder[k] ? (x < y ? -1 : 1) : compareStrings(x, y);
      } else if (typeof x === "number" && typeof y === "number" && !Number.isNaN(x + y)) {
        order = x < y ? -1 : x > y ? 1 : 0;
      } else order = compareBson(x, y);
      if (order !== 0) return order * direction;
    }
    return a.index - b.index;
  });
  return decorated.map((entry) => entry.doc);
}

const mingoSort = pipelineOperators.$sort as unknown as PipelineOperator;

const $sort: PipelineOperator = (coll, expr, options) => {
  const spec = expr as Doc;
  const directions: Record<string, 1 | -1> = {};
  for (const [path, direction] of Object.entries(spec ?? {})) {
    if (direction === 1 || direction === -1) directions[path] = direction;
    else return mingoSort(coll, expr, options);
  }
  if (Object.keys(directions).length === 0 || (options as { collation?: unknown }).collation) {
    return mingoSort(coll, expr, options);
  }
  return coll.transform((items: unknown[]) => Lazy(sortDocs(items, directions))) as LazyIterator;
};

// ---------------------------------------------------------------------------------------------
// Plain mode for every other operator

/** Runs a mingo operator on plain JS numbers, as it was written for. */
function plainMode(operator: ExpressionOperator): ExpressionOperator {
  return (obj, expr, options) => {
    if (isPlainMode(options)) return operator(obj, expr, options);
    const local = options.local ?? {};
    const plainObj = plainDeep(obj);
    const root = local.root === obj ? plainObj : plainDeep(local.root);
    const variables = plainDeep(local.variables ?? {}) as Doc;
    const plainOptions = ComputeOptions.init(options).update({ root, variables, plain: true });
    return operator(plainObj, expr, plainOptions);
  };
}

function plainAccumulator(operator: AccumulatorOperator): AccumulatorOperator {
  return (coll, expr, options) => {
    if (isPlainMode(options)) return operator(coll, expr, options);
    const plainOptions = ComputeOptions.init(options).update({ plain: true });
    return operator(coll.map(plainDeep), expr, plainOptions);
  };
}

/** A typed operator that answers plain numbers inside a plain-mode operator. */
function typed<T extends (...args: never[]) => unknown>(operator: T): T {
  return ((...args: Parameters<T>) => {
    const result = operator(...args);
    const options = args[2] as unknown as AnyOptions;
    return isPlainMode(options) ? plainDeep(result) : result;
  }) as T;
}

/** Operators that only move values around (or branch on them): typed values pass through. */
const PASS_THROUGH = new Set([
  "$literal",
  "$cond",
  "$switch",
  "$ifNull",
  "$let",
  "$map",
  "$filter",
  "$reduce",
  "$mergeObjects",
  "$getField",
  "$setField",
  "$unsetField",
  "$objectToArray",
  "$arrayToObject",
  "$concatArrays",
  "$reverseArray",
  "$arrayElemAt",
  "$first",
  "$last",
  "$firstN",
  "$lastN",
  "$slice",
  "$isArray",
  "$size",
  "$and",
  "$or",
  "$not",
  "$setUnion",
  "$setIntersection",
  "$setDifference",
  "$setEquals",
  "$setIsSubset",
  "$allElementsTrue",
  "$anyElementTrue",
  "$zip",
  "$sortArray",
  "$concat",
  "$rand",
  "$sampleRate",
  "$function",
  "$indexOfArray",
  "$push",
  "$addToSet",
  "$mergeObjects",
  "$count",
  "$top",
  "$topN",
  "$bottom",
  "$bottomN",
  "$maxN",
  "$minN",
  "$median",
  "$percentile",
]);

/** mingo operators whose numeric results mongod types as doubles. */
const DOUBLE_RESULTS = new Set([
  "$sqrt",
  "$exp",
  "$ln",
  "$log",
  "$log10",
  "$sin",
  "$cos",
  "$tan",
  "$asin",
  "$acos",
  "$atan",
  "$atan2",
  "$asinh",
  "$acosh",
  "$atanh",
  "$sinh",
  "$cosh",
  "$tanh",
  "$degreesToRadians",
  "$radiansToDegrees",
  "$stdDevPop",
  "$stdDevSamp",
]);

const EXPRESSION_OVERRIDES: Record<string, ExpressionOperator> = {
  $add,
  $subtract,
  $multiply,
  $divide,
  $mod,
  $abs: typePreserving("$abs", Math.abs),
  $ceil: typePreserving("$ceil", Math.ceil),
  $floor: typePreserving("$floor", Math.floor),
  $cmp,
  $eq: comparison("$eq", (order) => order === 0),
  $ne: comparison("$ne", (order) => order !== 0),
  $gt: comparison("$gt", (order) => order > 0),
  $gte: comparison("$gte", (order) => order >= 0),
  $lt: comparison("$lt", (order) => order < 0),
  $lte: comparison("$lte", (order) => order <= 0),
  $in,
  $type,
  $isNumber,
};

const ACCUMULATOR_OVERRIDES: Record<string, AccumulatorOperator> = {
  $sum,
  $avg,
  $min: extreme(-1),
  $max: extreme(1),
};

/** mongod's truthiness: false, null, missing and every numeric zero are false. */
const TRUTHY = "$__storeTruthy";

const $truthy: ExpressionOperator = (obj, expr, options) => {
  const value = evaluate(obj, expr, options);
  if (value === false || value === null || value === undefined || value === MISSING) return false;
  return !(isNumberKind(kindOf(value)) && toDouble(value) === 0);
};

const truthyRewrites = new WeakMap<object, unknown>();

/** A mingo operator whose conditions are first reduced to booleans by mongod's rules. */
function withTruthiness(
  operator: ExpressionOperator,
  rewrite: (expr: unknown) => unknown,
): ExpressionOperator {
  return (obj, expr, options) => {
    if (expr === null || expr === undefined) return operator(obj, expr, options);
    if (typeof expr !== "object") return operator(obj, rewrite(expr), options);
    let rewritten = truthyRewrites.get(expr);
    if (rewritten === undefined) {
      rewritten = rewrite(expr);
      truthyRewrites.set(expr, rewritten);
    }
    return operator(obj, rewritten, options);
  };
}

const asCondition = (expr: unknown) => ({ [TRUTHY]: expr });
const conditionsOf = (expr: unknown) => (Array.isArray(expr) ? expr.map(asCondition) : expr);

function rewriteCond(expr: unknown): unknown {
  if (Array.isArray(expr))
    return expr.length === 3 ? [asCondition(expr[0]), expr[1], expr[2]] : expr;
  const spec = expr as Doc;
  return Object.hasOwn(spec, "if") ? { ...spec, if: asCondition(spec.if) } : expr;
}

function rewriteSwitch(expr: unknown): unknown {
  const spec = expr as Doc;
  if (!Array.isArray(spec.branches)) return expr;
  return {
    ...spec,
    branches: spec.branches.map((branch) =>
      branch !== null && typeof branch === "object" && Object.hasOwn(branch, "case")
        ? { ...branch, case: asCondition((branch as Doc).case) }
        : branch,
    ),
  };
}

function buildExpressionOperators(): Record<string, ExpressionOperator> {
  const mingo = expressionOperators as unknown as Record<string, ExpressionOperator>;
  const out: Record<string, ExpressionOperator> = {};
  for (const [name, operator] of Object.entries(mingo)) {
    if (name === "default") continue;
    if (PASS_THROUGH.has(name)) out[name] = operator;
    else if (DOUBLE_RESULTS.has(name)) out[name] = doubleResult(operator);
    else out[name] = plainMode(operator);
  }
  for (const [name, operator] of Object.entries(EXPRESSION_OVERRIDES)) out[name] = typed(operator);
  out.$round = rounding(mingo.$round as ExpressionOperator);
  out.$trunc = typed(((obj, expr, options) =>
    Array.isArray(expr) && expr.length > 1
      ? rounding(mingo.$trunc as ExpressionOperator)(obj, expr, options)
      : typePreserving("$trunc", Math.trunc)(obj, expr, options)) as ExpressionOperator);
  out[TRUTHY] = $truthy;
  out.$cond = withTruthiness(mingo.$cond as ExpressionOperator, rewriteCond);
  out.$switch = withTruthiness(mingo.$switch as ExpressionOperator, rewriteSwitch);
  out.$and = withTruthiness(mingo.$and as ExpressionOperator, conditionsOf);
  out.$or = withTruthiness(mingo.$or as ExpressionOperator, conditionsOf);
  out.$not = withTruthiness(mingo.$not as ExpressionOperator, (expr) =>
    Array.isArray(expr) ? conditionsOf(expr) : [asCondition(expr)],
  );
  out.$toInt = typed(conversion("int", mingo.$toInt as ExpressionOperator));
  out.$toLong = typed(conversion("long", mingo.$toLong as ExpressionOperator));
  out.$toDouble = typed(conversion("double", mingo.$toDouble as ExpressionOperator));
  return out;
}

function buildAccumulatorOperators(): Record<string, AccumulatorOperator> {
  const mingo = accumulatorOperators as unknown as Record<string, AccumulatorOperator>;
  const out: Record<string, AccumulatorOperator> = {};
  for (const [name, operator] of Object.entries(mingo)) {
    if (name === "default") continue;
    if (PASS_THROUGH.has(name) || name === "$first" || name === "$last") out[name] = operator;
    else if (DOUBLE_RESULTS.has(name)) {
      const plain = plainAccumulator(operator);
      out[name] = (coll, expr, options) => {
        const result = plain(coll, expr, options);
        return typeof result === "number" && !isPlainMode(options) ? doubleValue(result) : result;
      };
    } else out[name] = plainAccumulator(operator);
  }
  for (const [name, operator] of Object.entries(ACCUMULATOR_OVERRIDES)) out[name] = typed(operator);
  return out;
}

/** Stages that compare or compute on values with mingo's own code: they get plain numbers. */
const PLAIN_STAGES = [
  "$bucket",
  "$bucketAuto",
  "$densify",
  "$fill",
  "$graphLookup",
  "$setWindowFields",
  "$sortByCount",
];

function buildPipelineOperators(): Record<string, PipelineOperator> {
  const mingo = pipelineOperators as unknown as Record<string, PipelineOperator>;
  const out: Record<string, PipelineOperator> = { ...mingo, $group, $sort };
  for (const name of PLAIN_STAGES) {
    const operator = mingo[name];
    if (operator) {
      out[name] = (coll, expr, options) =>
        operator(coll.map((doc: unknown) => plainDeep(doc)) as LazyIterator, expr, options);
    }
  }
  return out;
}

/** Query operators: mingo's, with the BSON-aware ones of query-operators.ts over them. */
export const QUERY_TABLE = { ...queryOperators, ...QUERY_OPERATORS };

/** Every operator, for filters with `$expr`, computed projections, aggregation and pipeline updates. */
export const FULL_CONTEXT = Context.init({
  accumulator: buildAccumulatorOperators(),
  expression: buildExpressionOperators(),
  pipeline: buildPipelineOperators(),
  projection: projectionOperators,
  query: QUERY_TABLE,
  window: windowOperators,
} as never);
