/**
 * Collections, databases and indexes: create / drop / dropDatabase /
 * createIndexes / listIndexes / dropIndexes / listCollections /
 * listDatabases / dbStats.
 */
import { calculateObjectSize } from "bson";
import type { Collection } from "./collection.ts";
import {
  arrayArg,
  type CommandContext,
  type CommandHandler,
  docArg,
  stringArg,
} from "./command-context.ts";
import { checkCollation } from "./command-options.ts";
import { badValue, ErrorCode, StoreError } from "./errors.ts";
import { ID_INDEX, normalizeIndexSpec } from "./indexes.ts";
import { compileFilter } from "./mingo-adapter.ts";
import { openCursor } from "./read-commands.ts";
import { type Doc, isPlainObject, keyOf } from "./values.ts";

const GENERIC_FIELDS = new Set([
  "lsid",
  "$db",
  "$readPreference",
  "$clusterTime",
  "writeConcern",
  "comment",
  "maxTimeMS",
  "apiVersion",
  "apiStrict",
  "apiDeprecationErrors",
]);

function existing(context: CommandContext, name: string): Collection {
  const collection = context.catalog.collection(context.db, name);
  if (!collection) {
    throw new StoreError(ErrorCode.NamespaceNotFound, `ns does not exist: ${context.db}.${name}`);
  }
  return collection;
}

export const create: CommandHandler = (command, context) => {
  const name = stringArg(command, "create");
  checkCreateOptions(command);
  const options: Doc = {};
  for (const [key, value] of Object.entries(command)) {
    if (key !== "create" && !GENERIC_FIELDS.has(key)) options[key] = value;
  }
  // The simple collation is the default, which mongod does not record.
  if (options.collation !== undefined) delete options.collation;
  // Like mongod 7, creating an existing collection is not an error.
  context.catalog.ensureCollection(context.db, name, options);
  return { ok: 1 };
};

/** Views, validators and collations would change what the store returns: refuse them. */
function checkCreateOptions(command: Doc): void {
  if (command.viewOn !== undefined || command.pipeline !== undefined) {
    throw new StoreError(
      ErrorCode.NotImplemented,
      "create with viewOn/pipeline: views are not supported by the embedded store",
    );
  }
  const validator = command.validator;
  if (
    validator !== undefined &&
    !(isPlainObject(validator) && Object.keys(validator).length === 0)
  ) {
    throw new StoreError(
      ErrorCode.NotImplemented,
      "create with a validator: document validation is not supported by the embedded store",
    );
  }
  checkCollation(command.collation);
}

/** Changing collection options (validators, views, TTL, hidden indexes) is not implemented. */
export const collMod: CommandHandler = () => {
  throw new StoreError(
    ErrorCode.CommandNotSupported,
    "collMod is not supported by the embedded store",
  );
};

export const drop: CommandHandler = (command, context) => {
  const name = stringArg(command, "drop");
  const collection = context.catalog.collection(context.db, name);
  const nIndexesWas = collection?.indexSpecs().length ?? 0;
  context.catalog.dropCollection(context.db, name);
  return { nIndexesWas, ns: `${context.db}.${name}`, ok: 1 };
};

export const dropDatabase: CommandHandler = (_command, context) => {
  context.catalog.dropDatabase(context.db);
  return { dropped: context.db, ok: 1 };
};

export const createIndexes: CommandHandler = (command, context) => {
  const name = stringArg(command, "createIndexes");
  const rawSpecs = arrayArg(command, "indexes");
  for (const raw of rawSpecs) if (isPlainObject(raw)) checkCollation(raw.collation);
  const specs = rawSpecs.map(normalizeIndexSpec);
  if (specs.length === 0) throw badValue("Must specify at least one index to create");
  const { collection, created } = context.catalog.ensureCollection(context.db, name);
  const numIndexesBefore = collection.indexSpecs().length;
  let added = 0;
  for (const spec of specs) if (collection.createIndex(spec)) added++;
  const reply: Doc = {
    createdCollectionAutomatically: created,
    numIndexesBefore,
    numIndexesAfter: collection.indexSpecs().length,
  };
  if (added === 0) reply.note = "all indexes already exist";
  reply.ok = 1;
  return reply;
};

export const listIndexes: CommandHandler = (command, context) => {
  const name = stringArg(command, "listIndexes");
  const collection = existing(context, name);
  const cursor = isPlainObject(command.cursor) ? command.cursor : {};
  const batchSize = typeof cursor.batchSize === "number" ? cursor.batchSize : undefined;
  return openCursor(
    context,
    `${context.db}.${name}`,
    collection.indexSpecs().map((spec) => ({ ...spec })),
    batchSize,
  );
};

export const dropIndexes: CommandHandler = (command, context) => {
  const name = stringArg(
    command,
    Object.hasOwn(command, "dropIndexes") ? "dropIndexes" : "deleteIndexes",
  );
  const collection = existing(context, name);
  const nIndexesWas = collection.indexSpecs().length;
  const target = command.index;
  const specs = collection.indexSpecs();
  let names: string[];
  if (target === "*") {
    names = specs.filter((spec) => spec.name !== ID_INDEX.name).map((spec) => spec.name);
  } else if (typeof target === "string") {
    names = [target];
  } else if (Array.isArray(target) && target.every((t) => typeof t === "string")) {
    names = target as string[];
  } else if (isPlainObject(target)) {
    const match = specs.find((spec) => keyOf(spec.key) === keyOf(target));
    if (!match)
      throw new StoreError(
        ErrorCode.IndexNotFound,
        `can't find index with key: ${JSON.stringify(target)}`,
      );
    names = [match.name];
  } else {
    throw badValue("dropIndexes 'index' must be a string, array of strings or key pattern");
  }
  for (const indexName of names) collection.dropIndex(indexName);
  return { nIndexesWas, ok: 1 };
};

export const listCollections: CommandHandler = (command, context) => {
  const nameOnly = command.nameOnly === true;
  const entries: Doc[] = context.catalog.collections(context.db).map((collection) =>
    nameOnly
      ? { name: collection.name, type: "collection" }
      : {
          name: collection.name,
          type: "collection",
          options: { ...collection.options },
          info: { readOnly: false },
          idIndex: { ...ID_INDEX },
        },
  );
  const filter = docArg(command, "filter");
  const matcher = compileFilter(filter);
  const cursor = isPlainObject(command.cursor) ? command.cursor : {};
  const batchSize = typeof cursor.batchSize === "number" ? cursor.batchSize : undefined;
  return openCursor(
    context,
    `${context.db}.$cmd.listCollections`,
    entries.filter((entry) => matcher.test(entry)),
    batchSize,
  );
};

function sizeOf(collection: Collection): number {
  let bytes = 0;
  for (const doc of collection.all()) bytes += calculateObjectSize(doc);
  return bytes;
}

export const listDatabases: CommandHandler = (command, context) => {
  const nameOnly = command.nameOnly === true;
  let totalSize = 0;
  let databases: Doc[] = context.catalog.databases().map((db) => {
    if (nameOnly) return { name: db.name };
    const sizeOnDisk = [...db.collections.values()].reduce(
      (sum, collection) => sum + sizeOf(collection),
      0,
    );
    totalSize += sizeOnDisk;
    return { name: db.name, sizeOnDisk, empty: sizeOnDisk === 0 };
  });
  if (isPlainObject(command.filter)) {
    const matcher = compileFilter(command.filter);
    databases = databases.filter((db) => matcher.test(db));
  }
  return nameOnly
    ? { databases, ok: 1 }
    : { databases, totalSize, totalSizeMb: Math.round(totalSize / 1048576), ok: 1 };
};

export const dbStats: CommandHandler = (_command, context) => {
  const collections = context.catalog.collections(context.db);
  const objects = collections.reduce((sum, collection) => sum + collection.size, 0);
  const dataSize = collections.reduce((sum, collection) => sum + sizeOf(collection), 0);
  return {
    db: context.db,
    collections: collections.length,
    views: 0,
    objects,
    avgObjSize: objects ? dataSize / objects : 0,
    dataSize,
    storageSize: dataSize,
    indexes: collections.reduce((sum, collection) => sum + collection.indexSpecs().length, 0),
    indexSize: 0,
    totalSize: dataSize,
    scaleFactor: 1,
    ok: 1,
  };
};
