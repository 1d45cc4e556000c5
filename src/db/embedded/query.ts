/**
 * Reading documents: candidate selection (index lookups) plus mingo for
 * filtering, sorting, skip/limit and projection.
 */
import type { Collection } from "./collection.ts";
import { badValue } from "./errors.ts";
import { compileFilter } from "./mingo-adapter.ts";
import { applyFindProjection, planFindProjection } from "./projection.ts";
import { sortDocs } from "./typed-operators.ts";
import { type Doc, hintsOf, setHints } from "./values.ts";

export interface FindOptions {
  sort?: Doc;
  skip?: number;
  limit?: number;
  projection?: Doc;
  /** A command's `let` variables (`$$name` in `$expr` and projections). */
  variables?: Doc;
}

export function findDocs(
  collection: Collection | undefined,
  filter: Doc,
  options: FindOptions = {},
): Doc[] {
  if (!collection) return [];
  const query = compileFilter(filter, undefined, options.variables);
  let cursor = query.find<Doc>(collection.candidates(filter));
  const sort = normalizeSort(options.sort);
  const skip = options.skip && options.skip > 0 ? options.skip : 0;
  let docs: Doc[];
  if (sort) {
    // mongod's BSON order (numbers by value across types, BinData, ...), which mingo's sort lacks.
    docs = sortDocs(cursor.all(), sort);
    docs = docs.slice(skip, options.limit && options.limit > 0 ? skip + options.limit : undefined);
  } else {
    if (skip) cursor = cursor.skip(skip);
    if (options.limit && options.limit > 0) cursor = cursor.limit(options.limit);
    docs = cursor.all();
  }
  return options.projection ? project(docs, filter, options.projection, options.variables) : docs;
}

/** Applies a find-style projection; the filter is needed for positional (`a.$`) projections. */
export function project(docs: Doc[], filter: Doc, projection: Doc, variables?: Doc): Doc[] {
  if (Object.keys(projection).length === 0 || docs.length === 0) return docs;
  const plan = planFindProjection(projection);
  if (plan) {
    // Without a positional `$` the filter plays no part, and every document comes back.
    const condition = plan.positional ? filter : {};
    return applyFindProjection(plan, docs, (input, base) =>
      compileFilter(condition, base, variables).find<Doc>(input, base).all(),
    ).map(idFirst);
  }
  const projected = compileFilter(filter, projection, variables).find<Doc>(docs, projection).all();
  if (projected.length === docs.length) {
    projected.forEach((doc, i) => {
      setHints(doc, hintsOf(docs[i] as Doc));
    });
  }
  return projected.map(idFirst);
}

/**
 * mongod returns `_id` first whatever the projection; mingo appends it after the included fields.
 * Reordered in place, so what is known about the document's number types stays with it.
 */
function idFirst(doc: Doc): Doc {
  const keys = Object.keys(doc);
  if (keys.length < 2 || keys[0] === "_id" || !Object.hasOwn(doc, "_id")) return doc;
  const entries = keys.map((key) => [key, doc[key]] as const);
  for (const key of keys) delete doc[key];
  doc._id = entries.find(([key]) => key === "_id")![1];
  for (const [key, value] of entries) if (key !== "_id") doc[key] = value;
  return doc;
}

function normalizeSort(sort: Doc | undefined): Record<string, 1 | -1> | undefined {
  if (!sort) return undefined;
  const out: Record<string, 1 | -1> = {};
  for (const [field, direction] of Object.entries(sort)) {
    if (field === "$natural") continue;
    if (typeof direction !== "number" || direction === 0) {
      throw badValue(`$sort key ordering must be 1 (for ascending) or -1 (for descending)`);
    }
    out[field] = direction > 0 ? 1 : -1;
  }
  return Object.keys(out).length ? out : undefined;
}
