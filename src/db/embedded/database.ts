/**
 * The catalog: databases and their collections. Every mutation funnels
 * through here (or a Collection created here) and is reported to the change
 * listener, which the persistence layer journals.
 */
import type { ChangeRecord, ChangeSink } from "./changes.ts";
import { Collection } from "./collection.ts";
import { ErrorCode, StoreError } from "./errors.ts";
import type { Doc } from "./values.ts";

export class Database {
  readonly collections = new Map<string, Collection>();
  constructor(readonly name: string) {}
}

export class Catalog {
  private readonly dbs = new Map<string, Database>();
  /** Receives every change; replaced by the journal once replay is done. */
  listener: (change: ChangeRecord) => void = () => {};
  private readonly sink: ChangeSink = { record: (change) => this.listener(change) };

  databases(): Database[] {
    return [...this.dbs.values()].filter((db) => db.collections.size > 0);
  }

  collections(db: string): Collection[] {
    return [...(this.dbs.get(db)?.collections.values() ?? [])];
  }

  collection(db: string, name: string): Collection | undefined {
    return this.dbs.get(db)?.collections.get(name);
  }

  /** Collections spring into existence on first write, as in mongod. */
  ensureCollection(
    db: string,
    name: string,
    options: Doc = {},
  ): { collection: Collection; created: boolean } {
    const existing = this.collection(db, name);
    if (existing) return { collection: existing, created: false };
    validateNamespace(db, name);
    let database = this.dbs.get(db);
    if (!database) {
      database = new Database(db);
      this.dbs.set(db, database);
    }
    const collection = new Collection(db, name, options, this.sink);
    database.collections.set(name, collection);
    this.sink.record({ op: "createCollection", db, coll: name, options });
    return { collection, created: true };
  }

  dropCollection(db: string, name: string): boolean {
    const database = this.dbs.get(db);
    if (!database?.collections.delete(name)) return false;
    this.sink.record({ op: "dropCollection", db, coll: name });
    return true;
  }

  dropDatabase(db: string): boolean {
    if (!this.dbs.delete(db)) return false;
    this.sink.record({ op: "dropDatabase", db });
    return true;
  }

  /** Replays one journaled change. Document puts bypass constraint checks: they were checked when first written. */
  apply(change: ChangeRecord): void {
    switch (change.op) {
      case "createCollection":
        this.ensureCollection(change.db, change.coll, change.options);
        return;
      case "createIndex":
        this.ensureCollection(change.db, change.coll).collection.createIndex(change.spec);
        return;
      case "dropIndex":
        this.collection(change.db, change.coll)?.dropIndex(change.name);
        return;
      case "put":
        this.ensureCollection(change.db, change.coll).collection.restore(change.doc);
        return;
      case "delete": {
        const collection = this.collection(change.db, change.coll);
        const doc = collection?.byId(change.id);
        if (collection && doc) collection.remove(doc);
        return;
      }
      case "dropCollection":
        this.dropCollection(change.db, change.coll);
        return;
      case "dropDatabase":
        this.dropDatabase(change.db);
        return;
    }
  }

  /** The whole state as a sequence of changes, used to compact the journal. */
  *snapshot(): Generator<ChangeRecord> {
    for (const database of this.dbs.values()) {
      for (const collection of database.collections.values()) {
        const base = { db: database.name, coll: collection.name };
        yield { op: "createCollection", ...base, options: collection.options };
        for (const spec of collection.indexSpecs()) {
          if (spec.name !== "_id_") yield { op: "createIndex", ...base, spec };
        }
        for (const doc of collection.all()) yield { op: "put", ...base, doc };
      }
    }
  }

  expire(now: number): number {
    let removed = 0;
    for (const database of this.dbs.values()) {
      for (const collection of database.collections.values()) removed += collection.expire(now);
    }
    return removed;
  }
}

function validateNamespace(db: string, name: string): void {
  if (!db || /[/\\. "$\0]/.test(db)) {
    throw new StoreError(ErrorCode.InvalidNamespace, `Invalid database name: '${db}'`);
  }
  if (!name || name.includes("$") || name.includes("\0") || name.startsWith(".")) {
    throw new StoreError(ErrorCode.InvalidNamespace, `Invalid collection name: ${name}`);
  }
}
