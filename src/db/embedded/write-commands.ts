/**
 * insert / update / delete / findAndModify. Batch commands report per-statement
 * failures in `writeErrors` with `ok: 1`, stopping at the first failure when
 * ordered (the default) and carrying on otherwise, as mongod does.
 */
import {
  arrayArg,
  type CommandContext,
  type CommandHandler,
  docArg,
  numberArg,
  optionalDocArg,
  stringArg,
} from "./command-context.ts";
import {
  checkCollation,
  checkInsertSize,
  checkUpdatedSize,
  checkUpsertSize,
  letVariables,
} from "./command-options.ts";
import { failedToParse, StoreError, toStoreError } from "./errors.ts";
import { findDocs, project } from "./query.ts";
import { applyUpdate, buildUpsertDoc, checkUpdate, updateKind } from "./update.ts";
import { type Doc, isPlainObject, keyOf, toWire } from "./values.ts";
import { fromLargeMessage } from "./wire.ts";

interface BatchOutcome {
  writeErrors: Doc[];
}

/** Runs each statement, collecting write errors instead of failing the whole command. */
function runBatch(
  statements: unknown[],
  ordered: boolean,
  run: (statement: unknown, index: number) => void,
): BatchOutcome {
  const writeErrors: Doc[] = [];
  for (let index = 0; index < statements.length; index++) {
    try {
      run(statements[index], index);
    } catch (error) {
      writeErrors.push(toStoreError(error).toWriteError(index));
      if (ordered) break;
    }
  }
  return { writeErrors };
}

function withWriteErrors(reply: Doc, outcome: BatchOutcome): Doc {
  if (outcome.writeErrors.length) reply.writeErrors = outcome.writeErrors;
  return reply;
}

export const insert: CommandHandler = (command, context) => {
  const name = stringArg(command, "insert");
  const documents = arrayArg(command, "documents");
  const { collection } = context.catalog.ensureCollection(context.db, name);
  let n = 0;
  // Only a message over 16 MiB can carry a document over the limit.
  const checkSizes = fromLargeMessage(command);
  const outcome = runBatch(documents, command.ordered !== false, (doc) => {
    if (!isPlainObject(doc)) throw failedToParse("documents to insert must be objects");
    if (checkSizes) checkInsertSize(doc);
    collection.insert(doc);
    n++;
  });
  return withWriteErrors({ n, ok: 1 }, outcome);
};

function statementDoc(statement: unknown): Doc {
  if (!isPlainObject(statement)) throw failedToParse("each statement must be an object");
  return statement;
}

function arrayFiltersOf(statement: Doc): Doc[] | undefined {
  const filters = statement.arrayFilters;
  if (filters === undefined || filters === null) return undefined;
  if (!Array.isArray(filters) || !filters.every(isPlainObject))
    throw failedToParse("arrayFilters must be an array of objects");
  return filters;
}

/**
 * Options of update/delete statements checked before any statement runs, as mongod parses the
 * whole command first: a collation other than simple is refused, and `sort` (an update
 * statement field only since MongoDB 8.0) is an unknown field, as on 7.0.
 */
function checkStatementOptions(statements: unknown[], field: "update.updates" | "delete.deletes") {
  for (const statement of statements) {
    if (!isPlainObject(statement)) continue;
    if (field === "update.updates" && statement.sort !== undefined)
      throw new StoreError(40415, `BSON field '${field}.sort' is an unknown field.`);
    if (statement.collation !== undefined) checkCollation(statement.collation);
  }
}

export const update: CommandHandler = (command, context) => {
  const name = stringArg(command, "update");
  const statements = arrayArg(command, "updates");
  checkStatementOptions(statements, "update.updates");
  const variables = letVariables(command);
  let n = 0;
  let nModified = 0;
  const upserted: Doc[] = [];
  const outcome = runBatch(statements, command.ordered !== false, (raw, index) => {
    const statement = statementDoc(raw);
    const filter = docArg(statement, "q");
    const spec = statement.u;
    const multi = statement.multi === true;
    if (multi && updateKind(spec) === "replacement") {
      throw failedToParse("multi update is not supported for replacement-style update");
    }
    const arrayFilters = arrayFiltersOf(statement);
    checkUpdate(spec, arrayFilters);
    const collection = context.catalog.collection(context.db, name);
    const matches = findDocs(collection, filter, { limit: multi ? 0 : 1, variables });
    if (matches.length === 0) {
      if (statement.upsert !== true) return;
      const doc = buildUpsertDoc(filter, spec, arrayFilters, variables);
      checkUpsertSize(doc);
      const target = context.catalog.ensureCollection(context.db, name).collection;
      const stored = target.insert(doc);
      n++;
      upserted.push({ index, _id: stored._id });
      return;
    }
    for (const current of matches) {
      const next = applyUpdate(current, spec, { arrayFilters, filter, variables });
      const nextKey = keyOf(next);
      const changed = nextKey !== keyOf(current);
      if (changed) {
        checkUpdatedSize(next, nextKey.length);
        collection?.replace(current, next);
      }
      n++;
      if (changed) nModified++;
    }
  });
  const reply: Doc = { n, nModified };
  if (upserted.length) reply.upserted = upserted;
  reply.ok = 1;
  return withWriteErrors(reply, outcome);
};

export const remove: CommandHandler = (command, context) => {
  const name = stringArg(command, "delete");
  const statements = arrayArg(command, "deletes");
  checkStatementOptions(statements, "delete.deletes");
  const variables = letVariables(command);
  let n = 0;
  const outcome = runBatch(statements, command.ordered !== false, (raw) => {
    const statement = statementDoc(raw);
    const filter = docArg(statement, "q");
    const limit = numberArg(statement, "limit") ?? 0;
    if (limit !== 0 && limit !== 1)
      throw failedToParse("The limit field in delete objects must be 0 or 1");
    const collection = context.catalog.collection(context.db, name);
    for (const doc of findDocs(collection, filter, { limit, variables })) {
      collection?.remove(doc);
      n++;
    }
  });
  return withWriteErrors({ n, ok: 1 }, outcome);
};

export const findAndModify: CommandHandler = (command, context: CommandContext) => {
  const name = stringArg(
    command,
    Object.hasOwn(command, "findAndModify") ? "findAndModify" : "findandmodify",
  );
  const filter = docArg(command, "query");
  const sort = optionalDocArg(command, "sort");
  const fields = optionalDocArg(command, "fields");
  const returnNew = command.new === true;
  checkCollation(command.collation);
  const variables = letVariables(command);
  const collection = context.catalog.collection(context.db, name);
  const current = findDocs(collection, filter, { sort, limit: 1, variables })[0];
  const shape = (doc: Doc | undefined): Doc | null => {
    if (!doc) return null;
    if (!fields) return toWire(doc);
    // The filter only matters to positional projections; an updated document may no longer
    // match it, and must still come back.
    const projected =
      project([doc], filter, fields, variables)[0] ?? project([doc], {}, fields, variables)[0];
    return projected ? toWire(projected) : null;
  };

  if (command.remove === true) {
    if (current) collection?.remove(current);
    return { lastErrorObject: { n: current ? 1 : 0 }, value: shape(current), ok: 1 };
  }
  if (command.update === undefined)
    throw failedToParse("Either an update or remove=true must be specified");
  const arrayFilters = arrayFiltersOf(command);
  checkUpdate(command.update, arrayFilters);
  if (current && collection) {
    const next = applyUpdate(current, command.update, { arrayFilters, filter, variables });
    const nextKey = keyOf(next);
    if (nextKey !== keyOf(current)) {
      checkUpdatedSize(next, nextKey.length);
      collection.replace(current, next);
    }
    return {
      lastErrorObject: { n: 1, updatedExisting: true },
      value: shape(returnNew ? next : current),
      ok: 1,
    };
  }
  if (command.upsert !== true) {
    return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
  }
  const doc = buildUpsertDoc(filter, command.update, arrayFilters, variables);
  checkUpsertSize(doc);
  const target = context.catalog.ensureCollection(context.db, name).collection;
  const stored = target.insert(doc);
  return {
    lastErrorObject: { n: 1, updatedExisting: false, upserted: stored._id },
    value: returnNew ? shape(stored) : null,
    ok: 1,
  };
};
