/**
 * Reading documents: candidate selection (index lookups) plus mingo for
 * filtering, sorting, skip/limit and projection.
 */
import type { Collection } from "./collection.ts";
import { badValue } from "./errors.ts";
import { compileFilter } from "./mingo-adapter.ts";
import { type Doc, hintsOf, setHints } from "./values.ts";

export interface FindOptions {
  sort?: Doc;
  skip?: number;
  limit?: number;
  projection?: Doc;
}

export function findDocs(
  collection: Collection | undefined,
  filter: Doc,
  options: FindOptions = {},
): Doc[] {
  if (!collection) return [];
  const query = compileFilter(filter);
  let cursor = query.find<Doc>(collection.candidates(filter));
  const sort = normalizeSort(options.sort);
  if (sort) cursor = cursor.sort(sort);
  if (options.skip && options.skip > 0) cursor = cursor.skip(options.skip);
  if (options.limit && options.limit > 0) cursor = cursor.limit(options.limit);
  const docs = cursor.all();
  return options.projection ? project(docs, filter, options.projection) : docs;
}

/** Applies a find-style projection; the filter is needed for positional (`a.$`) projections. */
export function project(docs: Doc[], filter: Doc, projection: Doc): Doc[] {
  if (Object.keys(projection).length === 0 || docs.length === 0) return docs;
  const projected = compileFilter(filter, projection).find<Doc>(docs, projection).all();
  if (projected.length === docs.length) {
    projected.forEach((doc, i) => {
      setHints(doc, hintsOf(docs[i] as Doc));
    });
  }
  return projected;
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
