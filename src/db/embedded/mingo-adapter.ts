/**
 * The single place that configures mingo, the query/update/aggregation engine.
 * Scripting operators ($where, $function, $accumulator) are disabled: this
 * server must never execute code sent by a client.
 */
import { Aggregator, update as mingoUpdate, updateOne as mingoUpdateOne, Query } from "mingo";
import type { CollectionResolver, Options } from "mingo/types";
import type { Modifier, PipelineStage } from "mingo/updater";
import { badValue, toStoreError } from "./errors.ts";
import type { Doc } from "./values.ts";

const BASE_OPTIONS: Partial<Options> = { scriptEnabled: false, useStrictMode: true };

export type Matcher = { test(doc: Doc): boolean };

export function compileFilter(filter: unknown): Query {
  if (
    filter !== undefined &&
    filter !== null &&
    (typeof filter !== "object" || Array.isArray(filter))
  ) {
    throw badValue("filter must be an object");
  }
  try {
    return new Query((filter ?? {}) as Doc, BASE_OPTIONS);
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
    const aggregator = new Aggregator(pipeline, { ...BASE_OPTIONS, collectionResolver: resolver });
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
      queryOptions: BASE_OPTIONS,
    });
  } catch (error) {
    throw toStoreError(error);
  }
}

/** Runs an update pipeline ($set/$unset/$project/...) and returns the new document. */
export function applyPipelineUpdate(doc: Doc, pipeline: Doc[]): Doc {
  const holder = [doc];
  try {
    mingoUpdateOne(holder, {}, pipeline as PipelineStage[], { cloneMode: "none" }, BASE_OPTIONS);
  } catch (error) {
    throw toStoreError(error);
  }
  return holder[0] as Doc;
}
