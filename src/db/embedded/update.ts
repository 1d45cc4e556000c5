/**
 * Turning an update specification (operators, replacement document or
 * aggregation pipeline) into the next version of a document, and building the
 * document an upsert inserts, with mongod's rules: equality parts of the
 * filter seed the new document, `$setOnInsert` applies only on insert, `_id`
 * never changes.
 */
import { ErrorCode, failedToParse, StoreError } from "./errors.ts";
import { applyOperators, applyPipelineUpdate } from "./mingo-adapter.ts";
import {
  applyQueryPulls,
  checkOperandTypes,
  checkUpdatePaths,
  resolvePositional,
  splitQueryPulls,
} from "./update-rules.ts";
import {
  copyDoc,
  type Doc,
  formatForMessage,
  hintsOf,
  isPlainObject,
  keyOf,
  type NumberKind,
  setHints,
  setPath,
} from "./values.ts";

export type UpdateKind = "operators" | "replacement" | "pipeline";

export function updateKind(update: unknown): UpdateKind {
  if (Array.isArray(update)) return "pipeline";
  if (!isPlainObject(update))
    throw failedToParse("Update argument must be either an object or an array");
  const keys = Object.keys(update);
  const operators = keys.filter((key) => key.startsWith("$"));
  if (operators.length === 0) return "replacement";
  if (operators.length !== keys.length) {
    const field = keys.find((key) => !key.startsWith("$"));
    throw failedToParse(
      `Unknown modifier: ${field}. Expected a valid update modifier or pipeline-style update specified as an array`,
    );
  }
  return "operators";
}

export interface UpdateOptions {
  arrayFilters?: Doc[];
  /** The statement's filter; lets the positional `$` operator find its element. */
  filter: Doc;
  /** The command's `let` variables, for pipeline updates. */
  variables?: Doc;
}

/** Returns the updated copy of `current`; `current` itself is left untouched. */
export function applyUpdate(current: Doc, update: unknown, options: UpdateOptions): Doc {
  const kind = updateKind(update);
  let next: Doc;
  if (kind === "replacement") {
    next = replacementOf(current, update as Doc);
  } else if (kind === "pipeline") {
    next = applyPipelineUpdate(copyDoc(current), update as Doc[], options.variables);
  } else {
    next = copyDoc(current);
    const modifier = resolvePositional(
      current,
      withoutSetOnInsert(update as Doc, false),
      options.arrayFilters,
      options.filter,
    );
    const modified = applyModifier(next, current, modifier);
    setHints(next, mergeHints(hintsOf(current), modifier, modified));
  }
  if (kind === "pipeline") next = keepId(current._id, next);
  if (keyOf(next._id) !== keyOf(current._id)) {
    throw new StoreError(
      ErrorCode.ImmutableField,
      "Performing an update on the path '_id' would modify the immutable field '_id'",
    );
  }
  return next;
}

/** The document an upsert inserts when nothing matched. `_id` may still be missing (the collection adds one). */
export function buildUpsertDoc(
  filter: Doc,
  update: unknown,
  arrayFilters: Doc[] | undefined,
  variables?: Doc,
): Doc {
  const kind = updateKind(update);
  const seed = equalityFields(filter);
  if (kind === "replacement") {
    const replacement = update as Doc;
    const doc: Doc =
      seed._id !== undefined && replacement._id === undefined ? { _id: seed._id } : {};
    Object.assign(doc, replacement);
    setHints(doc, hintsOf(replacement));
    return doc;
  }
  const seededId = seed._id;
  if (kind === "pipeline")
    return keepId(seededId, applyPipelineUpdate(seed, update as Doc[], variables));
  const modifier = resolvePositional(
    seed,
    withoutSetOnInsert(update as Doc, true),
    arrayFilters,
    undefined,
  );
  const modified = applyModifier(seed, seed, modifier);
  if (seededId !== undefined && keyOf(seed._id) !== keyOf(seededId)) {
    throw new StoreError(
      ErrorCode.ImmutableField,
      "Performing an update on the path '_id' would modify the immutable field '_id'",
    );
  }
  setHints(seed, mergeHints(undefined, modifier, modified));
  return seed;
}

/**
 * The checks mongod makes on an update when parsing it, before any document is matched: run once
 * per statement, so they fail the statement even when nothing matches.
 */
export function checkUpdate(update: unknown, arrayFilters: Doc[] | undefined): void {
  if (updateKind(update) === "operators") checkUpdatePaths(update as Doc, arrayFilters);
}

/**
 * Applies operators (with concrete paths, see resolvePositional) to `target` in place after
 * checking them against `before`, the document as it was; returns the modified paths. `_id` is
 * left to the caller's before/after comparison, as in mongod, where `$set` of `_id` to its
 * current value is a no-op.
 */
function applyModifier(target: Doc, before: Doc, modifier: Doc): string[] {
  checkOperandTypes(before, modifier);
  const split = splitQueryPulls(modifier);
  const modified = applyOperators(target, split ? split.modifier : modifier, undefined, {});
  if (split) modified.push(...applyQueryPulls(target, split.pulls));
  return modified;
}

/**
 * A pipeline update whose result has no `_id` keeps the document's (mongod's
 * ObjectReplaceExecutor); another `_id` is refused.
 */
function keepId(id: unknown, result: Doc): Doc {
  if (id === undefined) return result;
  if (result._id === undefined) {
    const kept: Doc = { _id: id };
    for (const key of Object.keys(result)) if (key !== "_id") kept[key] = result[key];
    setHints(kept, hintsOf(result));
    return kept;
  }
  if (keyOf(result._id) !== keyOf(id)) {
    throw new StoreError(
      ErrorCode.ImmutableField,
      `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${formatForMessage(result._id)}`,
    );
  }
  return result;
}

function replacementOf(current: Doc, replacement: Doc): Doc {
  if (replacement._id !== undefined && keyOf(replacement._id) !== keyOf(current._id)) {
    throw new StoreError(
      ErrorCode.ImmutableField,
      "After applying the update, the (immutable) field '_id' was found to have been altered",
    );
  }
  const next: Doc = { _id: current._id };
  for (const key of Object.keys(replacement)) if (key !== "_id") next[key] = replacement[key];
  setHints(next, hintsOf(replacement));
  return next;
}

/** `$setOnInsert` becomes part of `$set` when inserting and disappears otherwise. */
function withoutSetOnInsert(update: Doc, inserting: boolean): Doc {
  const setOnInsert = update.$setOnInsert;
  if (setOnInsert === undefined) return update;
  const { $setOnInsert: _, ...rest } = update;
  if (!inserting || !isPlainObject(setOnInsert)) return rest;
  const set = isPlainObject(rest.$set) ? { ...rest.$set, ...setOnInsert } : { ...setOnInsert };
  const merged = new Map([
    ...(hintsOf(setOnInsert) ?? []),
    ...(isPlainObject(rest.$set) ? (hintsOf(rest.$set) ?? []) : []),
  ]);
  setHints(set, merged);
  return { ...rest, $set: set };
}

/** Operators whose result keeps the numeric type already stored at the path. */
const TYPE_PRESERVING = new Set(["$inc", "$mul"]);
/** Operators whose operand values are stored as given. */
const VALUE_SETTING = ["$set", "$max", "$min"];

function mergeHints(
  previous: ReadonlyMap<string, NumberKind> | undefined,
  modifier: Doc,
  modified: string[],
): Map<string, NumberKind> {
  const preserved = new Set<string>();
  for (const op of TYPE_PRESERVING) {
    const operand = modifier[op];
    if (isPlainObject(operand)) for (const path of Object.keys(operand)) preserved.add(path);
  }
  const hints = new Map<string, NumberKind>();
  for (const [path, kind] of previous ?? []) {
    const touched = modified.some(
      (m) => !preserved.has(path) && (path === m || path.startsWith(`${m}.`)),
    );
    if (!touched) hints.set(path, kind);
  }
  for (const op of VALUE_SETTING) {
    const operand = modifier[op];
    if (!isPlainObject(operand)) continue;
    for (const [path, kind] of hintsOf(operand) ?? [])
      if (!path.includes("$")) hints.set(path, kind);
  }
  return hints;
}

/** Fields an upsert copies from the filter: plain equalities, `$eq`, and those inside `$and`. */
function equalityFields(filter: Doc): Doc {
  const seed: Doc = {};
  const visit = (conditions: Doc) => {
    for (const [key, value] of Object.entries(conditions)) {
      if (key === "$and" && Array.isArray(value)) {
        for (const clause of value) if (isPlainObject(clause)) visit(clause);
        continue;
      }
      if (key.startsWith("$") || value instanceof RegExp) continue;
      if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith("$"))) {
        if (Object.hasOwn(value, "$eq")) setPath(seed, key, value.$eq);
        continue;
      }
      setPath(seed, key, value);
    }
  };
  visit(filter);
  return seed;
}
