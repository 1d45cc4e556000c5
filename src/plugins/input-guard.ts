import { Elysia } from "elysia";
import { type FieldError, ValidationError } from "../errors.ts";

/**
 * How deeply a JSON body may nest. The deepest body this API takes is a Clerk webhook event (about
 * six levels; more only inside metadata the application's own admins write), so 64 (also
 * System.Text.Json's default) leaves ten times that, yet stays far below the few thousand levels
 * at which recursive code overflows the stack: Elysia's validation messages stringify the
 * offending value, and a 5,000-deep array turned a 400 into a 500.
 */
export const MAX_JSON_DEPTH = 64;

const NUL = "\u0000";
const NUL_MESSAGE = "must not contain a NUL character (U+0000)";

/** A value still to visit, with the way back to the root for naming it in an error. */
interface Visit {
  value: unknown;
  key: string;
  parent: Visit | undefined;
  depth: number;
}

function pathOf(visit: Visit | undefined, fallback: string): string {
  const keys: string[] = [];
  for (let at = visit; at?.parent; at = at.parent) keys.push(at.key);
  return keys.reverse().join(".") || fallback;
}

/**
 * The first problem, in document order, with a decoded request value: a NUL in a key or a string,
 * or nesting deeper than `maxDepth` containers. NUL means nothing in any of this API's text and
 * BSON cannot carry it in a key or a regular expression, so it is refused everywhere rather than
 * wherever a query happens to hit it. Walks with a stack of its own: the value may be nested
 * deeper than the call stack could follow.
 */
export function findUnsafeInput(
  value: unknown,
  fallbackPath: string,
  maxDepth = MAX_JSON_DEPTH,
): FieldError | undefined {
  const pending: Visit[] = [{ value, key: "", parent: undefined, depth: 0 }];
  for (let visit = pending.pop(); visit; visit = pending.pop()) {
    if (visit.key.includes(NUL)) return { path: pathOf(visit, fallbackPath), message: NUL_MESSAGE };
    const current = visit.value;
    if (typeof current === "string") {
      if (current.includes(NUL)) return { path: pathOf(visit, fallbackPath), message: NUL_MESSAGE };
      continue;
    }
    if (typeof current !== "object" || current === null) continue;
    const depth = visit.depth + 1;
    if (depth > maxDepth) {
      return { path: pathOf(visit, fallbackPath), message: `nests deeper than ${maxDepth} levels` };
    }
    const entries = Object.entries(current);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      pending.push({ value: child, key, parent: visit, depth });
    }
  }
  return undefined;
}

/** Where a request value came from, in the words the error handler uses. */
const WHERE = { body: "request body", query: "query", params: "path" } as const;

/** Throws the contract's 400 VALIDATION when `value` holds a NUL or nests too deeply. */
export function assertSafeInput(value: unknown, from: keyof typeof WHERE): void {
  const problem = findUnsafeInput(value, from);
  if (problem) throw new ValidationError(`The ${WHERE[from]} is invalid`, [problem]);
}

/**
 * The query and path parameters of every route go through `assertSafeInput` before any schema or
 * handler sees them; the JSON body does too, as soon as it is parsed (plugins/body-limit.ts).
 */
export const inputGuard = new Elysia({ name: "input-guard" }).onTransform(
  { as: "global" },
  ({ query, params }) => {
    assertSafeInput(query, "query");
    assertSafeInput(params, "params");
  },
);
