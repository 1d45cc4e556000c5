/**
 * The single place that configures mingo, the query/update/aggregation engine.
 * Scripting operators ($where, $function, $accumulator) are disabled: this
 * server must never execute code sent by a client.
 */
// mingo's entry point (`Query`, `Aggregator`, `updateOne`) adds every operator to what it is given.
import { Aggregator, updateOne as mingoUpdateOne, Query as QueryWithAllOperators } from "mingo";
import { Context } from "mingo/core";
import * as projectionOperators from "mingo/operators/projection";
import * as queryOperators from "mingo/operators/query";
import { Query } from "mingo/query";
import type { CollectionResolver, Options } from "mingo/types";
import { type Modifier, update as mingoUpdate, type PipelineStage } from "mingo/updater";
import { badValue, toStoreError } from "./errors.ts";
import { type Doc, isPlainObject } from "./values.ts";

const BASE_OPTIONS: Partial<Options> = { scriptEnabled: false, useStrictMode: true };

/**
 * mingo copies the operator tables of the context it is given for every query and every update.
 * With all of them (hundreds of expression operators) that copy was the store's biggest cost on a
 * busy write path, so plain filters, projections and update operators get a context with just the
 * query and projection operators; anything that evaluates expressions ($expr, computed
 * projections) gets them all.
 */
const LEAN_OPTIONS: Partial<Options> = {
  ...BASE_OPTIONS,
  context: Context.init({ query: queryOperators, projection: projectionOperators }),
};
const FULL_OPTIONS: Partial<Options> = BASE_OPTIONS;

/** True when a filter uses `$expr` anywhere (inside $and/$or/$elemMatch too). */
function usesExpressions(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(usesExpressions);
  if (!isPlainObject(value)) return false;
  return Object.entries(value).some(([key, inner]) => key === "$expr" || usesExpressions(inner));
}

/** Inclusion, exclusion, `$elemMatch` and `$slice` need no expression operators. */
function isPlainProjection(projection: Doc): boolean {
  return Object.values(projection).every((spec) => {
    if (typeof spec === "number" || typeof spec === "boolean") return true;
    if (!isPlainObject(spec)) return false;
    const keys = Object.keys(spec);
    return keys.length === 1 && (keys[0] === "$elemMatch" || keys[0] === "$slice");
  });
}

export type Matcher = { test(doc: Doc): boolean };

export function compileFilter(filter: unknown, projection?: Doc): Query {
  if (
    filter !== undefined &&
    filter !== null &&
    (typeof filter !== "object" || Array.isArray(filter))
  ) {
    throw badValue("filter must be an object");
  }
  try {
    const lean = !usesExpressions(filter) && (!projection || isPlainProjection(projection));
    const condition = (filter ?? {}) as Doc;
    return lean
      ? new Query(condition, LEAN_OPTIONS)
      : new QueryWithAllOperators(condition, FULL_OPTIONS);
  } catch (error) {
    throw toStoreError(error);
  }
}

export function runPipeline(
  docs: Iterable<Doc>,
  pipeline: Doc[],
  resolver: CollectionResolver,
): Doc[] {
  try {
    const aggregator = new Aggregator(pipeline, { ...FULL_OPTIONS, collectionResolver: resolver });
    return aggregator.run(Array.isArray(docs) ? docs : Array.from(docs)) as Doc[];
  } catch (error) {
    throw toStoreError(error);
  }
}

/** Applies update operators in place; returns the modified paths. `condition` enables `$`. */
export function applyOperators(
  doc: Doc,
  modifier: Doc,
  arrayFilters: Doc[] | undefined,
  condition: Doc,
): string[] {
  try {
    return mingoUpdate(doc, modifier as Modifier<Doc>, arrayFilters, condition, {
      // Stored documents are never mutated in place, so sharing operand values is safe.
      cloneMode: "none",
      queryOptions: LEAN_OPTIONS,
    });
  } catch (error) {
    throw toStoreError(error);
  }
}

/** Runs an update pipeline ($set/$unset/$project/...) and returns the new document. */
export function applyPipelineUpdate(doc: Doc, pipeline: Doc[]): Doc {
  const holder = [doc];
  try {
    mingoUpdateOne(holder, {}, pipeline as PipelineStage[], { cloneMode: "none" }, FULL_OPTIONS);
  } catch (error) {
    throw toStoreError(error);
  }
  return holder[0] as Doc;
}
