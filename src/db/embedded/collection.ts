/**
 * One collection: documents keyed by the exact serialization of their `_id`,
 * plus index metadata and unique-key maps. Stored documents are never mutated
 * after they are stored (updates build a new object), so cursors and replies
 * can reference them without copying.
 */
import { ObjectId } from "bson";
import type { ChangeSink } from "./changes.ts";
import { badValue, ErrorCode, StoreError } from "./errors.ts";
import {
  duplicateKeyError,
  FieldIndex,
  ID_INDEX,
  type IndexSpec,
  sameIndexOptions,
  sameKeyPattern,
  sameKeys,
  UniqueIndex,
} from "./indexes.ts";
import { type Doc, hintsOf, isPlainObject, keyOf, setHints } from "./values.ts";

export class Collection {
  private readonly docs = new Map<string, Doc>();
  private readonly specs = new Map<string, IndexSpec>([[ID_INDEX.name, ID_INDEX]]);
  private readonly uniqueIndexes = new Map<string, UniqueIndex>();
  /** Leading field of any index (but `_id`) → its field index, shared by all indexes on it. */
  private readonly fieldIndexes = new Map<string, FieldIndex>();

  constructor(
    readonly db: string,
    readonly name: string,
    readonly options: Doc,
    private readonly sink: ChangeSink,
  ) {}

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  get size(): number {
    return this.docs.size;
  }

  all(): IterableIterator<Doc> {
    return this.docs.values();
  }

  byId(id: unknown): Doc | undefined {
    return this.docs.get(keyOf(id));
  }

  /**
   * Documents that may match `filter`: a Map lookup when the filter pins `_id`,
   * a field with a full unique index, or the leading field of another index;
   * otherwise every document. Callers
   * still test each candidate against the whole filter.
   */
  candidates(filter: Doc): Iterable<Doc> {
    const idCondition = filter._id;
    if (idCondition !== undefined) {
      const ids = pinnedValues(idCondition);
      if (ids)
        return ids.flatMap((id): Doc[] => {
          const doc = this.docs.get(keyOf(id));
          return doc ? [doc] : [];
        });
    }
    for (const index of this.uniqueIndexes.values()) {
      const field = index.directLookupField;
      if (field === undefined || !Object.hasOwn(filter, field)) continue;
      const values = pinnedValues(filter[field]);
      if (!values) continue;
      return values.flatMap((value) => {
        const owner = index.lookup(value);
        const doc = owner === undefined ? undefined : this.docs.get(owner);
        return doc ? [doc] : [];
      });
    }
    for (const [field, index] of this.fieldIndexes) {
      if (!Object.hasOwn(filter, field)) continue;
      const values = pinnedValues(filter[field]);
      if (!values) continue;
      const ids = new Set(values.flatMap((value) => [...index.lookup(value)]));
      return [...ids].flatMap((id): Doc[] => {
        const doc = this.docs.get(id);
        return doc ? [doc] : [];
      });
    }
    return this.docs.values();
  }

  /** Stores a new document (adding `_id` first if missing) and returns what was stored. */
  insert(input: Doc): Doc {
    const doc = withIdFirst(input);
    const id = keyOf(doc._id);
    if (this.docs.has(id)) {
      throw duplicateKeyError(this.ns, ID_INDEX, ["_id"], [doc._id]);
    }
    this.reindex(id, undefined, doc);
    this.docs.set(id, doc);
    this.sink.record({ op: "put", db: this.db, coll: this.name, doc });
    return doc;
  }

  /** Swaps a stored document for its updated version (same `_id`). */
  replace(current: Doc, next: Doc): void {
    const id = keyOf(current._id);
    if (keyOf(next._id) !== id) {
      throw new StoreError(
        ErrorCode.ImmutableField,
        "Performing an update on the path '_id' would modify the immutable field '_id'",
      );
    }
    this.reindex(id, current, next);
    this.docs.set(id, next);
    this.sink.record({ op: "put", db: this.db, coll: this.name, doc: next });
  }

  remove(doc: Doc): void {
    const id = keyOf(doc._id);
    if (!this.docs.delete(id)) return;
    this.reindex(id, doc, undefined);
    this.sink.record({ op: "delete", db: this.db, coll: this.name, id: doc._id });
  }

  indexSpecs(): IndexSpec[] {
    return [...this.specs.values()];
  }

  /** Returns false when an identical index already exists (not an error, as in mongod). */
  createIndex(spec: IndexSpec): boolean {
    for (const existing of this.specs.values()) {
      if (existing.name === spec.name) {
        if (sameKeyPattern(existing, spec) && sameIndexOptions(existing, spec)) return false;
        throw new StoreError(
          sameKeyPattern(existing, spec)
            ? ErrorCode.IndexOptionsConflict
            : ErrorCode.IndexKeySpecsConflict,
          `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(existing)}`,
        );
      }
      if (
        sameKeyPattern(existing, spec) &&
        !spec.partialFilterExpression &&
        !existing.partialFilterExpression
      ) {
        if (sameIndexOptions(existing, spec)) return false;
        throw new StoreError(
          ErrorCode.IndexOptionsConflict,
          `An equivalent index already exists with a different name and options. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(existing)}`,
        );
      }
    }
    if (spec.unique && spec.name !== ID_INDEX.name) {
      const index = new UniqueIndex(spec, this.ns);
      // Building checks existing data first, like mongod refusing a unique index over duplicates.
      for (const [id, doc] of this.docs) {
        const keys = index.keysFor(doc);
        index.check(keys, id);
        index.add(keys, id);
      }
      this.uniqueIndexes.set(spec.name, index);
    }
    this.specs.set(spec.name, spec);
    this.syncFieldIndexes();
    this.sink.record({ op: "createIndex", db: this.db, coll: this.name, spec });
    return true;
  }

  dropIndex(name: string): void {
    if (name === ID_INDEX.name)
      throw new StoreError(ErrorCode.InvalidOptions, "cannot drop _id index");
    if (!this.specs.delete(name)) {
      throw new StoreError(ErrorCode.IndexNotFound, `index not found with name [${name}]`);
    }
    this.uniqueIndexes.delete(name);
    this.syncFieldIndexes();
    this.sink.record({ op: "dropIndex", db: this.db, coll: this.name, name });
  }

  /** Replay path: stores a journaled document without re-checking constraints. */
  restore(doc: Doc): void {
    const id = keyOf(doc._id);
    this.reindex(id, this.docs.get(id), doc, false);
    this.docs.set(id, doc);
  }

  /**
   * Moves document `id` in every index from `current`'s keys to `next`'s (either may be absent:
   * an insert, a removal), after checking every unique index (unless `check` is off, on replay),
   * so a refused write changes no index. An index whose keys a write leaves as they were is not
   * touched: most updates change no indexed field, and each key costs a string to build.
   */
  private reindex(id: string, current: Doc | undefined, next: Doc | undefined, check = true) {
    const unique = [...this.uniqueIndexes.values()].flatMap((index) => {
      const before = current ? index.keysFor(current) : [];
      const after = next ? index.keysFor(next) : [];
      return sameKeys(before, after) ? [] : [{ index, before, after }];
    });
    if (check) for (const { index, after } of unique) index.check(after, id);
    for (const { index, before, after } of unique) {
      index.remove(before, id);
      index.add(after, id);
    }
    for (const index of this.fieldIndexes.values()) {
      const before = current ? index.keysFor(current) : new Set<string>();
      const after = next ? index.keysFor(next) : new Set<string>();
      if (sameKeys(before, after)) continue;
      index.remove(before, id);
      index.add(after, id);
    }
  }

  /** One field index per leading field of the current indexes, built from the documents held. */
  private syncFieldIndexes(): void {
    const wanted = new Set<string>();
    for (const spec of this.specs.values()) {
      const field = Object.keys(spec.key)[0];
      const direction = field === undefined ? undefined : spec.key[field];
      // Text, hashed and geo keys order nothing an equality lookup could use.
      if (field !== undefined && field !== "_id" && typeof direction === "number")
        wanted.add(field);
    }
    for (const field of this.fieldIndexes.keys()) {
      if (!wanted.has(field)) this.fieldIndexes.delete(field);
    }
    for (const field of wanted) {
      if (this.fieldIndexes.has(field)) continue;
      const index = new FieldIndex(field);
      for (const [id, doc] of this.docs) index.add(index.keysFor(doc), id);
      this.fieldIndexes.set(field, index);
    }
  }

  /** Deletes documents whose TTL index date is older than `expireAfterSeconds`. */
  expire(now: number): number {
    let removed = 0;
    for (const spec of this.specs.values()) {
      const seconds = spec.expireAfterSeconds;
      const fields = Object.keys(spec.key);
      const field = fields[0];
      if (typeof seconds !== "number" || fields.length !== 1 || field === undefined) continue;
      const cutoff = now - seconds * 1000;
      for (const doc of [...this.docs.values()]) {
        const value = doc[field];
        const dates = (Array.isArray(value) ? value : [value]).filter(
          (v): v is Date => v instanceof Date,
        );
        if (dates.length && Math.min(...dates.map((d) => d.getTime())) <= cutoff) {
          this.remove(doc);
          removed++;
        }
      }
    }
    return removed;
  }
}

/** Values an equality condition pins a field to, or undefined if it is not a plain equality. */
function pinnedValues(condition: unknown): unknown[] | undefined {
  if (isLookupKey(condition)) return [condition];
  if (!isPlainObject(condition)) return undefined;
  const keys = Object.keys(condition);
  if (keys.length !== 1) return undefined;
  if (keys[0] === "$eq" && isLookupKey(condition.$eq)) return [condition.$eq];
  if (keys[0] === "$in" && Array.isArray(condition.$in) && condition.$in.every(isLookupKey)) {
    return condition.$in;
  }
  return undefined;
}

/** Scalars whose equality semantics match an exact key lookup (not null, arrays, objects or regexes). */
function isLookupKey(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value !== "object") return typeof value !== "function" && typeof value !== "symbol";
  if (Array.isArray(value) || value instanceof RegExp || isPlainObject(value)) return false;
  return true;
}

function withIdFirst(doc: Doc): Doc {
  if (Array.isArray(doc._id)) throw badValue("can't use an array for _id");
  if (doc._id instanceof RegExp) throw badValue("can't use a regex for _id");
  const first = Object.keys(doc)[0];
  if (first === "_id") return doc;
  const out: Doc = { _id: doc._id === undefined ? new ObjectId() : doc._id };
  for (const key of Object.keys(doc)) if (key !== "_id") out[key] = doc[key];
  setHints(out, hintsOf(doc));
  return out;
}
