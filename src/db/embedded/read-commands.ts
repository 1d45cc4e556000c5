/**
 * find / getMore / killCursors / aggregate / count / distinct.
 */
import { Long } from "bson";
import { cursorReply } from "./bson-writer.ts";
import type { Collection } from "./collection.ts";
import {
  arrayArg,
  type CommandContext,
  type CommandHandler,
  docArg,
  numberArg,
  optionalDocArg,
  stringArg,
} from "./command-context.ts";
import { checkCollation, letVariables } from "./command-options.ts";
import { badValue, failedToParse } from "./errors.ts";
import { runPipeline } from "./mingo-adapter.ts";
import { findDocs } from "./query.ts";
import { copyDoc, type Doc, isPlainObject, keyOf, storedKey, valuesAtPath } from "./values.ts";
import { RawDocument } from "./wire.ts";

export const find: CommandHandler = (command, context) => {
  const name = stringArg(command, "find");
  let limit = numberArg(command, "limit") ?? 0;
  let singleBatch = command.singleBatch === true;
  if (limit < 0) {
    // A negative limit is the legacy way to ask for one batch and no cursor.
    limit = -limit;
    singleBatch = true;
  }
  checkCollation(command.collation);
  const docs = findDocs(context.catalog.collection(context.db, name), docArg(command, "filter"), {
    sort: optionalDocArg(command, "sort"),
    skip: numberArg(command, "skip"),
    limit,
    projection: optionalDocArg(command, "projection"),
    variables: letVariables(command),
  });
  return openCursor(
    context,
    `${context.db}.${name}`,
    docs,
    numberArg(command, "batchSize"),
    singleBatch,
  );
};

export function openCursor(
  context: CommandContext,
  ns: string,
  docs: Doc[],
  batchSize: number | undefined,
  singleBatch = false,
): RawDocument {
  const batch = context.cursors.open(ns, docs, batchSize, singleBatch);
  return new RawDocument(cursorReply("firstBatch", batch.docs, batch.id, ns));
}

export const getMore: CommandHandler = (command, context) => {
  const id = command.getMore;
  if (typeof id !== "number" && typeof id !== "bigint")
    throw badValue("getMore cursor id must be a long");
  const ns = `${context.db}.${stringArg(command, "collection")}`;
  const batch = context.cursors.getMore(BigInt(id), ns, numberArg(command, "batchSize"));
  return new RawDocument(cursorReply("nextBatch", batch.docs, batch.id, ns));
};

export const killCursors: CommandHandler = (command, context) => {
  stringArg(command, "killCursors");
  const ids = arrayArg(command, "cursors").map((id) => {
    if (typeof id !== "number" && typeof id !== "bigint")
      throw badValue("cursor ids must be longs");
    return BigInt(id);
  });
  const { killed, notFound } = context.cursors.kill(ids);
  return {
    cursorsKilled: killed.map((id) => Long.fromBigInt(id)),
    cursorsNotFound: notFound.map((id) => Long.fromBigInt(id)),
    cursorsAlive: [],
    cursorsUnknown: [],
    ok: 1,
  };
};

/** Stages that never mutate their input documents in mingo, so stored documents can be fed in directly. */
const NON_MUTATING_STAGES = new Set([
  "$match",
  "$sort",
  "$skip",
  "$limit",
  "$count",
  "$group",
  "$project",
  "$unwind",
  "$sortByCount",
  "$sample",
  "$lookup",
]);
const UNSUPPORTED_STAGES = new Set([
  "$out",
  "$merge",
  "$changeStream",
  "$currentOp",
  "$indexStats",
  "$collStats",
  "$listSessions",
]);

export const aggregate: CommandHandler = (command, context) => {
  const target = command.aggregate;
  const pipeline = arrayArg(command, "pipeline");
  const stages = pipeline.map((stage) => {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) {
      throw failedToParse("A pipeline stage specification object must contain exactly one field.");
    }
    const name = Object.keys(stage)[0] as string;
    if (UNSUPPORTED_STAGES.has(name))
      throw badValue(`${name} is not supported by the embedded store`);
    return stage;
  });
  checkCollation(command.collation);
  const variables = letVariables(command);
  const collection =
    typeof target === "string" ? context.catalog.collection(context.db, target) : undefined;
  const mutating = stages.some((stage) => {
    const name = Object.keys(stage)[0] as string;
    return (
      !NON_MUTATING_STAGES.has(name) ||
      (name === "$lookup" && isPlainObject(stage.$lookup) && stage.$lookup.pipeline !== undefined)
    );
  });
  // A leading $match uses the same index-aware path as find.
  const [first, ...rest] = stages;
  const leadingMatch = first && isPlainObject(first.$match) ? first.$match : undefined;
  const input = leadingMatch
    ? findDocs(collection, leadingMatch, { variables })
    : collection
      ? [...collection.all()]
      : [];
  const remaining = leadingMatch ? rest : stages;
  const resolve = (name: string): Doc[] => {
    const other: Collection | undefined = context.catalog.collection(context.db, name);
    const docs = other ? [...other.all()] : [];
    return mutating ? docs.map(copyDoc) : docs;
  };
  const results = remaining.length
    ? runPipeline(mutating ? input.map(copyDoc) : input, remaining, resolve, variables)
    : input;
  const cursorOptions = optionalDocArg(command, "cursor") ?? {};
  const ns =
    typeof target === "string" ? `${context.db}.${target}` : `${context.db}.$cmd.aggregate`;
  return openCursor(context, ns, results, numberArg(cursorOptions, "batchSize"));
};

export const count: CommandHandler = (command, context) => {
  const collection = context.catalog.collection(context.db, stringArg(command, "count"));
  const filter = docArg(command, "query");
  const skip = numberArg(command, "skip") ?? 0;
  const limit = Math.abs(numberArg(command, "limit") ?? 0);
  checkCollation(command.collation);
  if (!collection) return { n: 0, ok: 1 };
  if (Object.keys(filter).length === 0 && skip === 0 && limit === 0)
    return { n: collection.size, ok: 1 };
  return { n: findDocs(collection, filter, { skip, limit }).length, ok: 1 };
};

export const distinct: CommandHandler = (command, context) => {
  const collection = context.catalog.collection(context.db, stringArg(command, "distinct"));
  if (typeof command.key !== "string") throw failedToParse("distinct key must be a string");
  const key = storedKey(command.key);
  checkCollation(command.collation);
  const seen = new Map<string, unknown>();
  for (const doc of findDocs(collection, docArg(command, "query"))) {
    for (const value of valuesAtPath(doc, key)) {
      if (value === undefined) continue;
      const id = keyOf(value);
      if (!seen.has(id)) seen.set(id, value);
    }
  }
  return { values: [...seen.values()], ok: 1 };
};
