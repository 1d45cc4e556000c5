/**
 * Index definitions, the key maps that enforce unique indexes (one Map per
 * index, keyed by an exact serialization of the indexed values, so a uniqueness
 * check costs a hash lookup, not a scan), and field maps that answer equality
 * lookups on the leading field of the other indexes. TTL indexes are read by
 * the store's expiry sweep.
 */

import { badValue, ErrorCode, StoreError } from "./errors.ts";
import { compileFilter, type Matcher } from "./mingo-adapter.ts";
import { type Doc, formatForMessage, isPlainObject, keyOf, valuesAtPath } from "./values.ts";

export interface IndexSpec {
  v: number;
  key: Record<string, number | string>;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Doc;
  expireAfterSeconds?: number;
  [option: string]: unknown;
}

export const ID_INDEX: IndexSpec = { v: 2, key: { _id: 1 }, name: "_id_" };

/** Mirrors mongod's generated names: `{ a: 1, "b.c": -1 }` → `a_1_b.c_-1`. */
export function defaultIndexName(key: Record<string, unknown>): string {
  return Object.entries(key)
    .map(([field, dir]) => `${field}_${String(dir)}`)
    .join("_");
}

/** Options that only affect how mongod builds an index and must not change its identity. */
const BUILD_ONLY_OPTIONS = new Set(["background", "v", "ns"]);

export function normalizeIndexSpec(raw: unknown): IndexSpec {
  if (!isPlainObject(raw)) throw badValue("index specification must be an object");
  const key = raw.key;
  if (!isPlainObject(key) || Object.keys(key).length === 0) {
    throw new StoreError(ErrorCode.CannotCreateIndex, "Index keys cannot be empty.");
  }
  for (const [field, dir] of Object.entries(key)) {
    if (typeof dir !== "number" && typeof dir !== "string") {
      throw new StoreError(
        ErrorCode.CannotCreateIndex,
        `Values in the index key pattern must be numbers or strings: ${field}`,
      );
    }
  }
  const name = raw.name === undefined ? defaultIndexName(key) : raw.name;
  if (typeof name !== "string" || name.length === 0)
    throw badValue("index name must be a non-empty string");
  const spec: IndexSpec = { v: 2, key: key as IndexSpec["key"], name };
  for (const [option, value] of Object.entries(raw)) {
    if (option === "key" || option === "name" || BUILD_ONLY_OPTIONS.has(option)) continue;
    if ((option === "unique" || option === "sparse") && value !== true) continue;
    spec[option] = value;
  }
  if (spec.partialFilterExpression !== undefined && !isPlainObject(spec.partialFilterExpression)) {
    throw badValue("partialFilterExpression must be an object");
  }
  return spec;
}

/** True when two specs describe the same index (name aside). */
export function sameIndexOptions(a: IndexSpec, b: IndexSpec): boolean {
  const strip = (spec: IndexSpec) =>
    keyOf(Object.fromEntries(Object.entries(spec).filter(([k]) => k !== "name" && k !== "v")));
  return strip(a) === strip(b);
}

export function sameKeyPattern(a: IndexSpec, b: IndexSpec): boolean {
  return keyOf(a.key) === keyOf(b.key);
}

interface IndexKey {
  key: string;
  values: unknown[];
}

export class UniqueIndex {
  /** Index key → the `_id` key of the document that owns it. */
  private readonly owners = new Map<string, string>();
  private readonly fields: string[];
  private readonly partial: Matcher | undefined;

  constructor(
    readonly spec: IndexSpec,
    private readonly ns: string,
  ) {
    this.fields = Object.keys(spec.key);
    this.partial = spec.partialFilterExpression
      ? compileFilter(spec.partialFilterExpression)
      : undefined;
  }

  /** Answers an equality lookup on a single-field index that covers every document. */
  get directLookupField(): string | undefined {
    if (this.fields.length !== 1 || this.spec.sparse || this.partial) return undefined;
    return this.fields[0];
  }

  lookup(value: unknown): string | undefined {
    return this.owners.get(keyOf(value));
  }

  /** Keys a document contributes, or none when sparse/partial exclude it. */
  keysFor(doc: Doc): IndexKey[] {
    if (this.partial && !this.partial.test(doc)) return [];
    const perField = this.fields.map((field) => valuesAtPath(doc, field));
    if (this.spec.sparse && perField.every((values) => values.length === 0)) return [];
    let combos: unknown[][] = [[]];
    for (const values of perField) {
      const options = values.length === 0 ? [null] : values;
      combos = combos.flatMap((prefix) => options.map((value) => [...prefix, value]));
    }
    const seen = new Map<string, IndexKey>();
    for (const values of combos) {
      const key = values.map(keyOf).join("|");
      if (!seen.has(key)) seen.set(key, { key, values });
    }
    return [...seen.values()];
  }

  /** Throws E11000 if a document with `keys` would collide with a document other than `selfId`. */
  check(keys: IndexKey[], selfId: string): void {
    for (const { key, values } of keys) {
      const owner = this.owners.get(key);
      if (owner !== undefined && owner !== selfId) throw this.duplicateError(values);
    }
  }

  add(keys: IndexKey[], id: string): void {
    for (const { key } of keys) this.owners.set(key, id);
  }

  remove(keys: IndexKey[], id: string): void {
    for (const { key } of keys) {
      if (this.owners.get(key) === id) this.owners.delete(key);
    }
  }

  private duplicateError(values: unknown[]): StoreError {
    return duplicateKeyError(this.ns, this.spec, this.fields, values);
  }
}

/**
 * Equality lookups on one field: value key → the `_id` keys of the documents holding it. Every
 * document is in it (a missing field counts as null) and an array contributes each element, so
 * the documents found for a scalar are exactly those an equality filter can match; the filter is
 * still tested on each of them.
 */
export class FieldIndex {
  private readonly entries = new Map<string, Set<string>>();

  constructor(readonly field: string) {}

  add(keys: Set<string>, id: string): void {
    for (const key of keys) {
      const ids = this.entries.get(key);
      if (ids) ids.add(id);
      else this.entries.set(key, new Set([id]));
    }
  }

  remove(keys: Set<string>, id: string): void {
    for (const key of keys) {
      const ids = this.entries.get(key);
      ids?.delete(id);
      if (ids?.size === 0) this.entries.delete(key);
    }
  }

  lookup(value: unknown): Iterable<string> {
    return this.entries.get(keyOf(value)) ?? [];
  }

  keysFor(doc: Doc): Set<string> {
    const values = valuesAtPath(doc, this.field);
    return new Set((values.length === 0 ? [null] : values).map(keyOf));
  }
}

/** Whether two documents give an index the same keys (an update that leaves it alone). */
export function sameKeys(a: IndexKey[] | Set<string>, b: IndexKey[] | Set<string>): boolean {
  if (a instanceof Set && b instanceof Set) {
    return a.size === b.size && [...a].every((key) => b.has(key));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((entry, i) => entry.key === b[i]!.key);
  }
  return false;
}

export function duplicateKeyError(
  ns: string,
  spec: IndexSpec,
  fields: string[],
  values: unknown[],
): StoreError {
  const keyValue: Doc = {};
  fields.forEach((field, i) => {
    keyValue[field] = values[i] ?? null;
  });
  const rendered = fields.map((field, i) => `${field}: ${formatForMessage(values[i])}`).join(", ");
  return new StoreError(
    ErrorCode.DuplicateKey,
    `E11000 duplicate key error collection: ${ns} index: ${spec.name} dup key: { ${rendered} }`,
    { keyPattern: { ...spec.key }, keyValue },
  );
}
