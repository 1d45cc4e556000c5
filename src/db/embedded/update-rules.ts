/**
 * mongod's rules for update operators that mingo does not follow, applied around mingo's updater:
 *
 * - Parse-time checks on the paths of an update (before any document is looked at): two paths
 *   that overlap conflict (ConflictingUpdateOperators 40) but several paths under one array
 *   element (`children.$.name` + `children.$.updatedAt`) do not; array filter identifiers must be
 *   declared and used. Source: mongo/src/mongo/db/update/update_object_node.cpp (parseAndMerge),
 *   update_driver.cpp.
 * - Positional parts (`$`, `$[]`, `$[id]`) are resolved against the document before the update,
 *   into the array indexes they stand for (update_object_node.cpp / update_array_node.cpp apply),
 *   so mingo only sees concrete paths.
 * - Type errors fail the write instead of being skipped: `$push` onto a non-array (BadValue 2),
 *   `$inc` on a non-number (TypeMismatch 14), creating a field inside an array or a scalar
 *   (PathNotViable 28), ... (arithmetic_node.cpp, push_node.cpp, path_support.cpp createPathAt).
 * - `$pull` with a document condition made of query operators (`$or`, `$and`, ...) is applied as a
 *   query on each subdocument (pull_node.cpp ObjectMatcher), which mingo's `$pull` cannot express.
 *
 * The path and type checks cost a few property lookups per path; positional resolution and the
 * query `$pull` only run for updates that use them.
 */
import { kindOf, numberTypeOf } from "./bson-types.ts";
import { badValue, ErrorCode, failedToParse, StoreError, typeMismatch } from "./errors.ts";
import { compileFilter } from "./mingo-adapter.ts";
import {
  type Doc,
  formatForMessage,
  hintsOf,
  isPlainObject,
  type NumberKind,
  setHints,
} from "./values.ts";

const isArrayFilterPart = (part: string) => part.startsWith("$[") && part.endsWith("]");

function conflict(path: string, at: string): StoreError {
  return new StoreError(
    ErrorCode.ConflictingUpdateOperators,
    `Updating the path '${path}' would create a conflict at '${at}'`,
  );
}

// ---------------------------------------------------------------------------------------------
// Parse-time checks

interface PathNode {
  array: boolean;
  leaf: boolean;
  children: Map<string, PathNode>;
}

const newNode = (array: boolean, leaf: boolean): PathNode => ({
  array,
  leaf,
  children: new Map(),
});

/**
 * The checks mongod makes while parsing operator updates: conflicting paths, positional parts,
 * array filter identifiers. Runs once per statement, whether or not a document matches.
 */
export function checkUpdatePaths(modifier: Doc, arrayFilters: Doc[] | undefined): void {
  const declared = arrayFilterIdentifiers(arrayFilters);
  const used = new Set<string>();
  const root = newNode(false, false);
  for (const [op, operand] of Object.entries(modifier)) {
    if (!isPlainObject(operand)) continue; // mingo reports malformed operands
    for (const path of Object.keys(operand)) {
      addPath(root, path, declared, used);
      const target = operand[path];
      if (op === "$rename" && typeof target === "string") addPath(root, target, declared, used);
    }
  }
  for (const id of declared.keys()) {
    if (!used.has(id)) {
      throw failedToParse(
        `The array filter for identifier '${id}' was not used in the update ${formatForMessage(modifier)}`,
      );
    }
  }
}

function addPath(root: PathNode, path: string, declared: Map<string, Doc>, used: Set<string>) {
  const parts = path.split(".");
  if (path.includes("$")) {
    const positional = parts.filter((part) => part === "$").length;
    if (positional > 1)
      throw badValue(`Too many positional (i.e. '$') elements found in path '${path}'`);
    if (parts[0] === "$")
      throw badValue(
        `Cannot have positional (i.e. '$') element in the first position in path '${path}'`,
      );
  }
  const childName = (part: string, index: number): string => {
    if (!isArrayFilterPart(part)) return part;
    if (index === 0)
      throw badValue(
        `Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '${path}'`,
      );
    const id = part.slice(2, -1);
    if (id !== "") {
      if (!declared.has(id))
        throw badValue(`No array filter found for identifier '${id}' in path '${path}'`);
      used.add(id);
    }
    return id;
  };
  let current = root;
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) {
    const name = childName(parts[i] as string, i);
    const array = isArrayFilterPart(parts[i + 1] as string);
    let child = current.children.get(name);
    if (child) {
      if (child.leaf || child.array !== array)
        throw conflict(path, parts.slice(0, i + 1).join("."));
    } else {
      child = newNode(array, false);
      current.children.set(name, child);
    }
    current = child;
  }
  const name = childName(parts[last] as string, last);
  if (current.children.has(name)) throw conflict(path, path);
  current.children.set(name, newNode(false, true));
}

const IDENTIFIER = /^[a-z][a-zA-Z0-9]*$/;
const LOGICAL = new Set(["$and", "$or", "$nor"]);

/** Identifier → its filter, validated as mongod parses `arrayFilters`. */
function arrayFilterIdentifiers(arrayFilters: Doc[] | undefined): Map<string, Doc> {
  const declared = new Map<string, Doc>();
  for (const filter of arrayFilters ?? []) {
    const names = new Set<string>();
    const collect = (condition: Doc) => {
      for (const [key, value] of Object.entries(condition)) {
        if (LOGICAL.has(key) && Array.isArray(value)) {
          for (const clause of value) if (isPlainObject(clause)) collect(clause);
        } else if (!key.startsWith("$")) names.add(key.split(".")[0] as string);
      }
    };
    collect(filter);
    const [id, other] = [...names];
    if (id === undefined)
      throw failedToParse(
        "Cannot use an expression without a top-level field name in arrayFilters",
      );
    if (other !== undefined)
      throw failedToParse(
        `Error parsing array filter :: caused by :: Expected a single top-level field name, found '${id}' and '${other}'`,
      );
    if (!IDENTIFIER.test(id))
      throw badValue(
        `Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '${id}'`,
      );
    if (declared.has(id))
      throw failedToParse(`Found multiple array filters with the same top-level field name ${id}`);
    declared.set(id, filter);
  }
  return declared;
}

// ---------------------------------------------------------------------------------------------
// Positional parts

function hasPositional(modifier: Doc): boolean {
  for (const operand of Object.values(modifier)) {
    if (!isPlainObject(operand)) continue;
    for (const path of Object.keys(operand)) if (path.includes("$")) return true;
  }
  return false;
}

/**
 * Rewrites `$`, `$[]` and `$[id]` parts into the indexes they stand for in `doc` (the document
 * before the update). `filter` is the statement's query (undefined when building an upsert, where
 * `$` has nothing to stand for). Returns `modifier` itself when no path has a positional part.
 */
export function resolvePositional(
  doc: Doc,
  modifier: Doc,
  arrayFilters: Doc[] | undefined,
  filter: Doc | undefined,
): Doc {
  if (!hasPositional(modifier)) return modifier;
  const declared = arrayFilterIdentifiers(arrayFilters);
  const queries = new Map<string, { test(doc: Doc): boolean }>();
  const matches = (id: string, element: unknown): boolean => {
    let query = queries.get(id);
    if (!query) {
      query = compileFilter(declared.get(id) ?? {});
      queries.set(id, query);
    }
    return query.test({ [id]: element });
  };
  let matched: string | undefined | null = null;
  const matchedIndex = (): string => {
    if (matched === null) matched = filter ? positionalIndex(doc, filter) : undefined;
    if (matched === undefined)
      throw badValue("The positional operator did not find the match needed from the query.");
    return matched;
  };

  const out: Doc = {};
  const seen = new Set<string>();
  for (const [op, operand] of Object.entries(modifier)) {
    if (!isPlainObject(operand) || op === "$rename") {
      out[op] = operand;
      continue;
    }
    const rewritten: Doc = {};
    const expansions = new Map<string, string[]>();
    for (const [path, value] of Object.entries(operand)) {
      const concrete = path.includes("$") ? expandPath(doc, path, matchedIndex, matches) : [path];
      if (concrete.length !== 1 || concrete[0] !== path) expansions.set(path, concrete);
      for (const target of concrete) {
        if (seen.has(target))
          throw new StoreError(
            ErrorCode.ConflictingUpdateOperators,
            `Update created a conflict at '${target}'`,
          );
        seen.add(target);
        rewritten[target] = value;
      }
    }
    remapHints(operand, rewritten, expansions);
    out[op] = rewritten;
  }
  return out;
}

/** Carries the number hints of an operand over to the rewritten paths. */
function remapHints(operand: Doc, rewritten: Doc, expansions: Map<string, string[]>): void {
  const hints = hintsOf(operand);
  if (!hints) return;
  const out = new Map<string, NumberKind>();
  for (const [hinted, kind] of hints) {
    const source = [...expansions.keys()].find(
      (path) => hinted === path || hinted.startsWith(`${path}.`),
    );
    if (source === undefined) out.set(hinted, kind);
    else
      for (const target of expansions.get(source) ?? [])
        out.set(target + hinted.slice(source.length), kind);
  }
  setHints(rewritten, out);
}

function childOf(node: unknown, part: string): unknown {
  if (Array.isArray(node)) return /^\d+$/.test(part) ? node[Number(part)] : undefined;
  if (isPlainObject(node)) return node[part];
  return undefined;
}

function expandPath(
  doc: Doc,
  path: string,
  matchedIndex: () => string,
  matches: (id: string, element: unknown) => boolean,
): string[] {
  const parts = path.split(".");
  const out: string[] = [];
  const walk = (start: unknown, from: number, taken: string[]): void => {
    let node = start;
    for (let i = from; i < parts.length; i++) {
      const part = parts[i] as string;
      if (part === "$") {
        const index = matchedIndex();
        taken.push(index);
        node = childOf(node, index);
        continue;
      }
      if (isArrayFilterPart(part)) {
        if (node === undefined)
          throw badValue(
            `The path '${taken.join(".")}' must exist in the document in order to apply array updates.`,
          );
        if (!Array.isArray(node))
          throw badValue(
            `Cannot apply array updates to non-array element ${taken[taken.length - 1]}: ${formatForMessage(node)}`,
          );
        const id = part.slice(2, -1);
        node.forEach((element, index) => {
          if (id === "" || matches(id, element)) walk(element, i + 1, [...taken, String(index)]);
        });
        return;
      }
      taken.push(part);
      node = childOf(node, part);
    }
    out.push(taken.join("."));
  };
  walk(doc, 0, []);
  return out;
}

/**
 * The array index the query matched, standing in for `$` (mongod's "elemMatchKey"): the first
 * element of the first array met along a filter path (in filter order, `$and` clauses included)
 * for which that path's condition holds.
 */
function positionalIndex(doc: Doc, filter: Doc): string | undefined {
  const conditions: Array<[string, unknown]> = [];
  const collect = (clause: Doc) => {
    for (const [key, value] of Object.entries(clause)) {
      if (key === "$and" && Array.isArray(value)) {
        for (const inner of value) if (isPlainObject(inner)) collect(inner);
      } else if (!key.startsWith("$")) conditions.push([key, value]);
    }
  };
  collect(filter);
  for (const [key, condition] of conditions) {
    const parts = key.split(".");
    let node: unknown = doc;
    for (let j = 0; j <= parts.length; j++) {
      if (Array.isArray(node)) {
        const query = compileFilter({ [key]: condition });
        const prefix = parts.slice(0, j);
        for (let i = 0; i < node.length; i++) {
          if (query.test(nest(prefix, [node[i]]))) return String(i);
        }
        break;
      }
      if (j === parts.length || !isPlainObject(node)) break;
      node = node[parts[j] as string];
    }
  }
  return undefined;
}

function nest(prefix: string[], value: unknown): Doc {
  let out: unknown = value;
  for (let i = prefix.length - 1; i >= 0; i--) out = { [prefix[i] as string]: out };
  return out as Doc;
}

// ---------------------------------------------------------------------------------------------
// Type checks

/** Operators that create the path when it is missing (and so fail where it cannot be created). */
const CREATING = new Set([
  "$set",
  "$inc",
  "$mul",
  "$push",
  "$addToSet",
  "$min",
  "$max",
  "$currentDate",
]);
const ARITHMETIC = new Set(["$inc", "$mul"]);

/**
 * Fails the update as mongod does when an operator meets a value of the wrong type in `doc`
 * (the document before the update), so a write that MongoDB refuses is never applied or
 * silently skipped. Paths must be concrete (see resolvePositional).
 */
export function checkOperandTypes(doc: Doc, modifier: Doc): void {
  for (const [op, operand] of Object.entries(modifier)) {
    if (!isPlainObject(operand)) continue;
    if (op === "$rename") {
      for (const target of Object.values(operand))
        if (typeof target === "string" && target.includes(".")) checkPath(doc, "$set", target);
      continue;
    }
    for (const path of Object.keys(operand)) checkPath(doc, op, path);
  }
}

function checkPath(doc: Doc, op: string, path: string): void {
  let node: unknown;
  if (!path.includes(".")) {
    node = doc[path];
  } else {
    const parts = path.split(".");
    node = doc;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      let next: unknown;
      if (isPlainObject(node)) next = node[part];
      else if (Array.isArray(node) && /^\d+$/.test(part)) next = node[Number(part)];
      else {
        const element = `${parts[i - 1]}: ${formatForMessage(node)}`;
        if (CREATING.has(op))
          throw new StoreError(
            ErrorCode.PathNotViable,
            `Cannot create field '${part}' in element {${element}}`,
          );
        if (op === "$pop")
          throw new StoreError(
            ErrorCode.PathNotViable,
            `Cannot use the part (${part}) of (${path}) to traverse the element ({${element}})`,
          );
        return;
      }
      if (next === undefined) return;
      node = next;
    }
  }
  if (node === undefined) return;
  const field = path.slice(path.lastIndexOf(".") + 1);
  if (ARITHMETIC.has(op)) {
    if (numberTypeOf(node) === undefined)
      throw typeMismatch(
        `Cannot apply ${op} to a value of non-numeric type. {${idOf(doc)}} has the field '${field}' of non-numeric type ${typeName(doc, path, node)}`,
      );
  } else if (op === "$push") {
    if (!Array.isArray(node))
      throw badValue(
        `The field '${path}' must be an array but is of type ${typeName(doc, path, node)} in document {${idOf(doc)}}`,
      );
  } else if (op === "$addToSet") {
    if (!Array.isArray(node))
      throw badValue(
        `Cannot apply $addToSet to non-array field. Field named '${field}' has non-array type ${typeName(doc, path, node)}`,
      );
  } else if (op === "$pop") {
    if (!Array.isArray(node))
      throw typeMismatch(
        `Path '${path}' contains an element of non-array type '${typeName(doc, path, node)}'`,
      );
  } else if (op === "$pull" || op === "$pullAll") {
    if (!Array.isArray(node)) throw badValue("Cannot apply $pull to a non-array value");
  }
}

function idOf(doc: Doc): string {
  return doc._id === undefined ? "no id" : `_id: ${formatForMessage(doc._id)}`;
}

/**
 * mongod's name for the BSON type of a stored value (`typeName()` in bsontypes.cpp): the store's
 * one reading of BSON types, with the number kind this path was stored as.
 */
function typeName(doc: Doc, path: string, value: unknown): string {
  const stored = typeof value === "number" ? hintsOf(doc)?.get(path) : undefined;
  return stored ?? kindOf(value) ?? "missing";
}

// ---------------------------------------------------------------------------------------------
// $pull with a query on subdocuments

/** `$pull` conditions mongod applies as a query on each subdocument but mingo would mis-read. */
function isDocumentQuery(condition: unknown): condition is Doc {
  if (!isPlainObject(condition)) return false;
  const keys = Object.keys(condition);
  const first = keys[0];
  if (first === undefined || !keys.some((key) => key.startsWith("$"))) return false;
  // A leading field name or logical operator makes the whole condition a query on the element;
  // a leading $gt/$in/... compares the element itself (mingo handles that case).
  return !first.startsWith("$") || LOGICAL.has(first) || first === "$expr";
}

export interface SplitPulls {
  modifier: Doc;
  pulls: Array<[string, Doc]>;
}

/** Takes out of `$pull` the conditions that `applyQueryPulls` handles; undefined when none. */
export function splitQueryPulls(modifier: Doc): SplitPulls | undefined {
  const pull = modifier.$pull;
  if (!isPlainObject(pull)) return undefined;
  const pulls = Object.entries(pull).filter((entry): entry is [string, Doc] =>
    isDocumentQuery(entry[1]),
  );
  if (pulls.length === 0) return undefined;
  const rest: Doc = {};
  for (const [path, condition] of Object.entries(pull))
    if (!isDocumentQuery(condition)) rest[path] = condition;
  const { $pull: _, ...others } = modifier;
  return {
    modifier: Object.keys(rest).length ? { ...others, $pull: rest } : others,
    pulls,
  };
}

/** Removes, in place, the subdocuments matching each query; returns the paths it changed. */
export function applyQueryPulls(doc: Doc, pulls: Array<[string, Doc]>): string[] {
  const modified: string[] = [];
  for (const [path, condition] of pulls) {
    let node: unknown = doc;
    for (const part of path.split(".")) node = childOf(node, part);
    if (!Array.isArray(node)) continue;
    const query = compileFilter(condition);
    const kept = node.filter((element) => !(isPlainObject(element) && query.test(element)));
    if (kept.length === node.length) continue;
    node.splice(0, node.length, ...kept);
    modified.push(path);
  }
  return modified;
}
