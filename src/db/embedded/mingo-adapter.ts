/**
 * The single place that configures mingo, the query/update/aggregation engine.
 * Scripting operators ($where, $function, $accumulator) are disabled: this
 * server must never execute code sent by a client.
 */
// Not mingo's entry point: its `Query`/`Aggregator`/`updateOne` put mingo's own operators over ours.
import { Aggregator } from "mingo/aggregator";
import { Context } from "mingo/core";
import type { Cursor } from "mingo/cursor";
import type { Source } from "mingo/lazy";
import * as projectionOperators from "mingo/operators/projection";
import { Query } from "mingo/query";
import type { CollectionResolver, Options, Projection } from "mingo/types";
import {
  type Modifier,
  update as mingoUpdate,
  updateOne as mingoUpdateOne,
  type PipelineStage,
} from "mingo/updater";
import { badValue, toStoreError } from "./errors.ts";
import { filterTraits, withLongs } from "./query-operators.ts";
import { FULL_CONTEXT, QUERY_TABLE } from "./typed-operators.ts";
import { type Doc, fromWire, isPlainObject, storedPipelinePaths, toWire } from "./values.ts";

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
  context: Context.init({ query: QUERY_TABLE, projection: projectionOperators } as never),
};
const FULL_OPTIONS: Partial<Options> = { ...BASE_OPTIONS, context: FULL_CONTEXT };
/**
 * Update operators run with mingo's own `_id` guard turned off (it refuses any path named `_id`,
 * even `$set` to the current value): the store compares `_id` before and after instead, as mongod
 * does (see update.ts).
 */
const UPDATE_OPTIONS: Partial<Options> = { ...LEAN_OPTIONS, idKey: "\u0000" };

/** A query matching documents with their numbers typed, so `$type` tells Int32, Double and Int64 apart. */
class TypedQuery extends Query {
  override test<T>(obj: T): boolean {
    return super.test(toWire(obj as Doc));
  }
}

/** A query whose computed projection sees typed numbers, as aggregation's `$project` does. */
class ProjectingQuery extends TypedQuery {
  override find<R>(collection: Source, projection?: Projection<R>): Cursor<R> {
    const docs = Array.from(collection as Iterable<Doc>, (doc) => toWire(doc));
    return super.find<R>(docs, projection);
  }
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

function withVariables(options: Partial<Options>, variables: Doc | undefined): Partial<Options> {
  return variables ? { ...options, variables } : options;
}

/** `variables` are a command's `let` values, which `$expr` and computed projections can read. */
export function compileFilter(filter: unknown, projection?: Doc, variables?: Doc): Query {
  if (
    filter !== undefined &&
    filter !== null &&
    (typeof filter !== "object" || Array.isArray(filter))
  ) {
    throw badValue("filter must be an object");
  }
  try {
    const traits = filterTraits(filter);
    const lean = !traits.expressions && (!projection || isPlainProjection(projection));
    const condition = (traits.bigints ? withLongs(filter) : (filter ?? {})) as Doc;
    const options = lean ? LEAN_OPTIONS : withVariables(FULL_OPTIONS, variables);
    if (projection && !isPlainProjection(projection))
      return new ProjectingQuery(condition, options);
    return traits.types ? new TypedQuery(condition, options) : new Query(condition, options);
  } catch (error) {
    throw toStoreError(error);
  }
}

export function runPipeline(
  docs: Iterable<Doc>,
  pipeline: Doc[],
  resolver: CollectionResolver,
  variables?: Doc,
): Doc[] {
  try {
    const aggregator = new Aggregator(storedPipelinePaths(pipeline) as Doc[], {
      ...withVariables(FULL_OPTIONS, variables),
      collectionResolver: (name: string) => resolver(name).map((doc) => toWire(doc as Doc)),
    });
    // Aggregation computes with typed numbers (Double, Int32, Long), as mongod does.
    return aggregator.run(Array.from(docs, toWire)) as Doc[];
  } catch (error) {
    throw toStoreError(error);
  }
}

/** Evaluates an aggregation expression that reads no document (a command's `let` value). */
export function evaluateConstant(expression: unknown): unknown {
  try {
    const [result] = new Aggregator([{ $replaceWith: { value: expression } }], FULL_OPTIONS).run([
      {},
    ]) as Doc[];
    return result?.value;
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
      queryOptions: UPDATE_OPTIONS,
    });
  } catch (error) {
    throw toStoreError(error);
  }
}

/**
 * Runs an update pipeline ($set/$unset/$project/...) and returns the new document, computed with
 * typed numbers like aggregation and stored back with its number hints (values.ts `fromWire`).
 */
export function applyPipelineUpdate(doc: Doc, pipeline: Doc[], variables?: Doc): Doc {
  const holder = [toWire(doc)];
  try {
    const options = withVariables(FULL_OPTIONS, variables);
    mingoUpdateOne(holder, {}, pipeline as PipelineStage[], { cloneMode: "none" }, options);
  } catch (error) {
    throw toStoreError(error);
  }
  return fromWire(holder[0]) as Doc;
}
