/**
 * find()'s projection operators `$slice` and `$elemMatch`, whose rules differ from aggregation's
 * `$project` (which is what mingo implements), following mongod's projection_parser.cpp and
 * projection_executor_utils.cpp:
 *
 * - `$slice` does not make a projection an inclusion: `{ comments: { $slice: 2 } }` returns the
 *   whole document with `comments` sliced, and it combines with exclusions. With inclusions the
 *   sliced field is included. It applies through nested documents and arrays of documents.
 * - `$elemMatch` keeps the first array element matching its condition (which may be operators
 *   only, for arrays of plain values), or drops the field; alone it is an inclusion.
 *
 * Inclusions, exclusions, expressions and the positional `$` are still mingo's: the rest of the
 * projection goes to it, and these two operators are applied to its result.
 */

import { describeType } from "./command-context.ts";
import { StoreError } from "./errors.ts";
import { compileFilter, type Matcher } from "./mingo-adapter.ts";
import { type Doc, hintsOf, isPlainObject, type NumberKind, setHints } from "./values.ts";

interface Slice {
  path: string[];
  skip: number | undefined;
  limit: number;
}

interface ElemMatch {
  field: string;
  matcher: Matcher;
}

export interface FindProjectionPlan {
  inclusion: boolean;
  /** What mingo applies first; undefined when it would keep every field (or just `_id`). */
  base: Doc | undefined;
  excludeId: boolean;
  positional: boolean;
  slices: Slice[];
  elemMatches: ElemMatch[];
}

/** True for `{ $slice: n }` and `{ $slice: [skip, limit] }` with numbers: find's own $slice. */
function findSliceOf(spec: Doc): Slice | undefined {
  const arg = spec.$slice;
  if (typeof arg === "number") return { path: [], skip: undefined, limit: Math.trunc(arg) };
  if (!Array.isArray(arg) || arg.length !== 2) return undefined;
  const [skip, limit] = arg;
  if (typeof skip !== "number" || typeof limit !== "number") return undefined;
  if (Math.trunc(limit) <= 0) {
    // mongod then reads it as the aggregation $slice, whose first argument must be an array.
    throw new StoreError(
      28724,
      `First argument to $slice must be an array, but is of type: ${describeType(skip)}`,
    );
  }
  return { path: [], skip: Math.trunc(skip), limit: Math.trunc(limit) };
}

function isOperatorSpec(value: unknown, operator: string): boolean {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === operator;
}

/** Whether any entry (or nested sub-projection) uses find's $slice or $elemMatch. */
function usesFindOperators(projection: Doc): boolean {
  for (const spec of Object.values(projection)) {
    if (!isPlainObject(spec)) continue;
    if (isOperatorSpec(spec, "$elemMatch")) return true;
    if (isOperatorSpec(spec, "$slice")) {
      const arg = spec.$slice;
      if (
        typeof arg === "number" ||
        (Array.isArray(arg) && arg.every((n) => typeof n === "number"))
      )
        return true;
      continue;
    }
    const keys = Object.keys(spec);
    if (keys.length > 0 && !keys[0]?.startsWith("$") && usesFindOperators(spec)) return true;
  }
  return false;
}

/** `{ a: { b: 1 } }` → `[["a.b", 1]]`; operator objects and literals are leaves. */
function flatten(projection: Doc, prefix: string, out: Array<[string, unknown]>): void {
  for (const [key, spec] of Object.entries(projection)) {
    const path = prefix + key;
    const keys = isPlainObject(spec) ? Object.keys(spec) : [];
    if (isPlainObject(spec) && keys.length > 0 && !keys[0]?.startsWith("$")) {
      flatten(spec, `${path}.`, out);
    } else out.push([path, spec]);
  }
}

const isPositional = (path: string) => path.endsWith(".$") || path.includes(".$.");

/**
 * Parses a find projection; undefined when it has neither `$slice` nor `$elemMatch` (mingo's
 * $project then handles it on its own).
 */
export function planFindProjection(projection: Doc): FindProjectionPlan | undefined {
  if (!usesFindOperators(projection)) return undefined;
  const entries: Array<[string, unknown]> = [];
  flatten(projection, "", entries);
  let type: "inclusion" | "exclusion" | undefined;
  let idIncluded = false;
  let excludeId = false;
  let positional = false;
  const slices: Slice[] = [];
  const elemMatches: ElemMatch[] = [];
  const kept: Array<[string, unknown]> = [];
  for (const [path, spec] of entries) {
    if (typeof spec === "number" || typeof spec === "boolean" || typeof spec === "bigint") {
      const included = spec !== 0 && spec !== false && spec !== 0n;
      if (path === "_id") {
        if (included) idIncluded = true;
        else excludeId = true;
      } else if (included) {
        if (type === "exclusion")
          throw new StoreError(
            31253,
            `Cannot do inclusion on field ${path} in exclusion projection`,
          );
        type = "inclusion";
        if (isPositional(path)) {
          if (elemMatches.length)
            throw new StoreError(31256, "Cannot specify positional operator and $elemMatch.");
          positional = true;
        }
      } else {
        if (type === "inclusion")
          throw new StoreError(
            31254,
            `Cannot do exclusion on field ${path} in inclusion projection`,
          );
        type = "exclusion";
      }
      kept.push([path, spec]);
      continue;
    }
    if (isPlainObject(spec) && isOperatorSpec(spec, "$slice")) {
      const slice = findSliceOf(spec);
      if (slice) {
        slices.push({ ...slice, path: path.split(".") });
        continue;
      }
    } else if (isPlainObject(spec) && isOperatorSpec(spec, "$elemMatch")) {
      const condition = spec.$elemMatch;
      if (!isPlainObject(condition))
        throw new StoreError(
          31274,
          `elemMatch: Invalid argument, object required, but got ${describeType(condition)}`,
        );
      if (positional)
        throw new StoreError(31255, "Cannot specify positional operator and $elemMatch.");
      if (path.includes("."))
        throw new StoreError(31275, "Cannot use $elemMatch projection on a nested field.");
      elemMatches.push({ field: path, matcher: compileFilter({ [path]: spec }) });
      continue;
    }
    // An expression or a literal: computed fields make an inclusion projection.
    if (type === "exclusion")
      throw new StoreError(31252, "Cannot use expression other than $meta in exclusion projection");
    type = "inclusion";
    kept.push([path, spec]);
  }
  if (type === undefined) {
    if (slices.length) type = idIncluded ? "inclusion" : "exclusion";
    else type = elemMatches.length || idIncluded ? "inclusion" : "exclusion";
  }
  const inclusion = type === "inclusion";
  const base: Doc = {};
  for (const [path, spec] of kept) if (path !== "_id") base[path] = spec;
  // In an inclusion, a sliced field is included (whole, then sliced).
  if (inclusion) for (const slice of slices) base[slice.path.join(".")] = 1;
  const hasFields = Object.keys(base).length > 0;
  if (hasFields && excludeId) base._id = 0;
  return {
    inclusion,
    base: hasFields ? base : undefined,
    excludeId,
    positional,
    slices,
    elemMatches,
  };
}

/** Applies a planned projection; `project` gives mingo's result for `plan.base`. */
export function applyFindProjection(
  plan: FindProjectionPlan,
  docs: Doc[],
  project: (docs: Doc[], projection: Doc) => Doc[],
): Doc[] {
  let shaped: Doc[];
  if (plan.base) shaped = project(docs, plan.base);
  else if (plan.inclusion)
    shaped = docs.map((doc) =>
      !plan.excludeId && Object.hasOwn(doc, "_id") ? { _id: doc._id } : {},
    );
  else
    shaped = docs.map((doc) => {
      const copy = { ...doc };
      if (plan.excludeId) delete copy._id;
      return copy;
    });
  // Only a positional projection filters documents out; otherwise shaped[i] comes from docs[i].
  const aligned = shaped.length === docs.length;
  return shaped.map((out, i) => {
    let result = out;
    for (const slice of plan.slices)
      result = sliceAt(result, slice.path, 0, slice.skip, slice.limit);
    const source = aligned ? (docs[i] as Doc) : undefined;
    const matched = new Map<string, number>();
    if (source) {
      for (const { field, matcher } of plan.elemMatches) {
        const index = firstMatch(source[field], field, matcher);
        if (result === out) result = { ...out };
        if (plan.inclusion || index < 0) delete result[field];
        if (index >= 0) {
          result[field] = [(source[field] as unknown[])[index]];
          matched.set(field, index);
        }
      }
      const hints = hintsOf(source);
      if (hints) setHints(result, adjustHints(hints, source, plan, matched));
    }
    return result;
  });
}

function firstMatch(value: unknown, field: string, matcher: Matcher): number {
  if (!Array.isArray(value)) return -1;
  return value.findIndex((element) => matcher.test({ [field]: [element] }));
}

/** mongod's sliceArray: `skip` counts from the end when negative; a lone negative `limit` too. */
function sliceBounds(length: number, skip: number | undefined, limit: number): [number, number] {
  if (skip === undefined) {
    if (limit < 0) return [Math.max(0, length + limit), length];
    return [0, Math.min(length, limit)];
  }
  const start = skip < 0 ? Math.max(0, length + skip) : Math.min(length, skip);
  return [start, start + Math.min(length - start, limit)];
}

/** Copies the containers along `path` (sharing everything else) and slices the array at its end. */
function sliceAt(
  node: Doc,
  path: string[],
  depth: number,
  skip: number | undefined,
  limit: number,
): Doc {
  const key = path[depth] as string;
  if (!Object.hasOwn(node, key)) return node;
  const value = node[key];
  const last = depth === path.length - 1;
  let next: unknown = value;
  if (Array.isArray(value)) {
    if (last) {
      const [start, end] = sliceBounds(value.length, skip, limit);
      next = value.slice(start, end);
    } else {
      next = value.map((item) =>
        isPlainObject(item) ? sliceAt(item, path, depth + 1, skip, limit) : item,
      );
    }
  } else if (isPlainObject(value) && !last) {
    next = sliceAt(value, path, depth + 1, skip, limit);
  }
  return next === value ? node : { ...node, [key]: next };
}

/**
 * Number hints (see values.ts) name array elements by index; after a slice or an $elemMatch the
 * kept elements have new indexes. Hints under a sliced array reached through documents only are
 * moved; those under one reached through other arrays are dropped (their numbers then go out as
 * the default width).
 */
function adjustHints(
  hints: ReadonlyMap<string, NumberKind>,
  source: Doc,
  plan: FindProjectionPlan,
  matched: Map<string, number>,
): Map<string, NumberKind> {
  const out = new Map<string, NumberKind>();
  for (const [path, kind] of hints) {
    let parts: string[] | undefined = path.split(".");
    for (const slice of plan.slices) {
      if (!parts) break;
      parts = reindexForSlice(parts, slice, source);
    }
    if (parts) {
      for (const { field } of plan.elemMatches) {
        if (parts[0] !== field) continue;
        parts =
          parts.length > 1 && Number(parts[1]) === matched.get(field)
            ? [field, "0", ...parts.slice(2)]
            : undefined;
        break;
      }
    }
    if (parts) out.set(parts.join("."), kind);
  }
  return out;
}

function reindexForSlice(parts: string[], slice: Slice, source: Doc): string[] | undefined {
  const path = slice.path;
  let node: unknown = source;
  let i = 0;
  let j = 0;
  // Walk the hint path alongside the slice path; array indexes in between mean "through arrays".
  while (j < path.length && i < parts.length) {
    if (Array.isArray(node)) {
      if (!/^\d+$/.test(parts[i] as string)) return parts;
      return undefined;
    }
    if (parts[i] !== path[j]) return parts;
    node = isPlainObject(node) ? node[path[j] as string] : undefined;
    i++;
    j++;
  }
  if (j < path.length) return parts;
  if (!Array.isArray(node) || i >= parts.length) return parts;
  const index = Number(parts[i]);
  const [start, end] = sliceBounds(node.length, slice.skip, slice.limit);
  if (!Number.isInteger(index) || index < start || index >= end) return undefined;
  const moved = parts.slice();
  moved[i] = String(index - start);
  return moved;
}
