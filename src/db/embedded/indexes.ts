/**
 * Index definitions and the key maps that enforce unique indexes. Only unique
 * indexes keep entries (one Map per index, keyed by an exact serialization of
 * the indexed values) so a uniqueness check costs a hash lookup, not a scan.
 * Other indexes are metadata for listIndexes/Mongoose, except TTL, which the
 * store's expiry sweep reads.
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

  /** Throws E11000 if `doc` would collide with a document other than `selfId`. */
  check(doc: Doc, selfId: string): void {
    for (const { key, values } of this.keysFor(doc)) {
      const owner = this.owners.get(key);
      if (owner !== undefined && owner !== selfId) throw this.duplicateError(values);
    }
  }

  add(doc: Doc, id: string): void {
    for (const { key } of this.keysFor(doc)) this.owners.set(key, id);
  }

  remove(doc: Doc, id: string): void {
    for (const { key } of this.keysFor(doc)) {
      if (this.owners.get(key) === id) this.owners.delete(key);
    }
  }

  private duplicateError(values: unknown[]): StoreError {
    return duplicateKeyError(this.ns, this.spec, this.fields, values);
  }
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
