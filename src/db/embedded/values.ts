/**
 * Conversion between BSON values as they arrive on the wire and the in-memory
 * representation the query engine (mingo) understands.
 *
 * mingo compares plain JS numbers only, so Int32, Double and Long all become
 * `number` in memory. To still hand back the BSON type a client stored, a
 * "number hint" remembers which paths held an integral Double or a Long (an
 * integral `number` would otherwise be re-encoded as Int32). Hints live in a
 * WeakMap keyed by every enclosing object, with the path relative to that
 * object, so a stored document, a `$set` operand or a replacement document can
 * each be asked for its own hints. Longs beyond 2^53 stay `bigint`, which the
 * BSON serializer writes back as Int64 without a hint.
 */
import { Binary, BSONError, Double, EJSON, Long, serialize } from "bson";

export type Doc = Record<string, unknown>;
export type NumberKind = "double" | "long";
export type NumberHints = ReadonlyMap<string, NumberKind>;

const hintTable = new WeakMap<object, Map<string, NumberKind>>();

export function hintsOf(value: object): NumberHints | undefined {
  return hintTable.get(value);
}

export function setHints(target: object, hints: NumberHints | undefined): void {
  if (hints && hints.size > 0) hintTable.set(target, new Map(hints));
  else hintTable.delete(target);
}

function bsonTypeOf(value: object): string | undefined {
  const tag = (value as { _bsontype?: unknown })._bsontype;
  return typeof tag === "string" ? tag : undefined;
}

export function isPlainObject(value: unknown): value is Doc {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A field named `__proto__` is held in memory as PROTO_KEY (no BSON field name can contain a NUL),
 * so that neither plain-object assignment nor mingo ever sees a `__proto__` key: it is an ordinary
 * field, and nothing in the process can be polluted through it. `serializeDocument` writes it back.
 */
export const PROTO_KEY = "\u0000__proto__";

/** A field name or dotted path as it is named in memory (see PROTO_KEY). */
export function storedKey(key: string): string {
  if (key === "__proto__") return PROTO_KEY;
  if (!key.includes("__proto__")) return key;
  return key
    .split(".")
    .map((part) => (part === "__proto__" ? PROTO_KEY : part))
    .join(".");
}

function wireKey(key: string): string {
  return key.includes(PROTO_KEY) ? key.split(PROTO_KEY).join("__proto__") : key;
}

/**
 * An aggregation pipeline with its field paths (`"$a.__proto__.b"`, `localField`, ...) named as
 * in memory; values compared in `$match` filters are left as they are.
 */
export function storedPipelinePaths(pipeline: unknown[]): unknown[] {
  return pipeline.map((stage) => storedPaths(stage, "stage"));
}

function storedPaths(value: unknown, mode: "stage" | "filter" | "expression"): unknown {
  if (typeof value === "string") {
    return mode === "expression" && value.startsWith("$") && value.includes("__proto__")
      ? `$${storedKey(value.slice(1))}`
      : value;
  }
  if (Array.isArray(value)) return value.map((item) => storedPaths(item, mode));
  if (!isPlainObject(value)) return value;
  const out: Doc = {};
  for (const key of Object.keys(value)) {
    const inner = value[key];
    if (mode === "stage") out[key] = storedPaths(inner, key === "$match" ? "filter" : "expression");
    else if (key === "$expr") out[key] = storedPaths(inner, "expression");
    else if (mode === "filter") out[key] = storedPaths(inner, "filter");
    else if ((key === "localField" || key === "foreignField") && typeof inner === "string") {
      out[key] = storedKey(inner);
    } else if (key === "pipeline" && Array.isArray(inner)) out[key] = storedPipelinePaths(inner);
    else out[key] = storedPaths(inner, "expression");
  }
  return out;
}

/** `value` with PROTO_KEY fields named `__proto__` again (own properties, as bson deserializes them). */
export function restoreProtoKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(restoreProtoKeys);
  if (!isPlainObject(value)) return value;
  const out: Doc = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, wireKey(key), {
      value: restoreProtoKeys(value[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** BSON for a reply or journal document; only one holding a `__proto__` field takes a second pass. */
export function serializeDocument(doc: Doc): Uint8Array {
  try {
    return serialize(doc);
  } catch (error) {
    if (!(error instanceof BSONError) || !String(error.message).includes("null bytes")) throw error;
    return serialize(restoreProtoKeys(doc) as Doc);
  }
}

/**
 * mingo decides whether `$set` changes a value with `toString()`, which for a Binary ignores the
 * subtype: a Binary in memory names its subtype there, so a new subtype over the same bytes is
 * a change.
 */
class StoredBinary extends Binary {
  override toString(encoding?: "hex" | "base64" | "utf8" | "utf-8"): string {
    return encoding === undefined
      ? `${this.sub_type}:${super.toString("base64")}`
      : super.toString(encoding);
  }
}

/** Converts a freshly deserialized value (promoteValues: false) to the in-memory form. */
export function fromWire(value: unknown): unknown {
  return new WireConverter().convert(value);
}

/** Walks one value keeping the current path and its enclosing containers, to record hints. */
class WireConverter {
  private readonly segments: string[] = [];
  private readonly owners: Array<{ owner: object; depth: number }> = [];

  convert(value: unknown): unknown {
    if (value === null || typeof value !== "object") return value;
    switch (bsonTypeOf(value)) {
      case "Int32":
        return (value as { value: number }).value;
      case "Double": {
        const n = (value as Double).value;
        if (Number.isInteger(n)) this.recordHint("double");
        return n;
      }
      case "Long": {
        const big = (value as Long).toBigInt();
        if (big > MAX_SAFE || big < MIN_SAFE) return big;
        this.recordHint("long");
        return Number(big);
      }
      case "Binary": {
        if (value.constructor !== Binary) return value;
        const bin = value as Binary;
        return new StoredBinary(bin.buffer.subarray(0, bin.position), bin.sub_type);
      }
    }
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      this.owners.push({ owner: out, depth: this.segments.length });
      for (let i = 0; i < value.length; i++) {
        this.segments.push(String(i));
        out[i] = this.convert(value[i]);
        this.segments.pop();
      }
      this.owners.pop();
      return out;
    }
    if (!isPlainObject(value)) return value;
    const out: Doc = {};
    this.owners.push({ owner: out, depth: this.segments.length });
    for (const key of Object.keys(value)) {
      const name = storedKey(key);
      this.segments.push(name);
      out[name] = this.convert(value[key]);
      this.segments.pop();
    }
    this.owners.pop();
    return out;
  }

  private recordHint(kind: NumberKind): void {
    for (const { owner, depth } of this.owners) {
      let hints = hintTable.get(owner);
      if (!hints) {
        hints = new Map();
        hintTable.set(owner, hints);
      }
      hints.set(this.segments.slice(depth).join("."), kind);
    }
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Returns a value ready for BSON serialization, restoring Double/Long where hinted. */
export function toWire(doc: Doc): Doc {
  const hints = hintTable.get(doc);
  if (!hints) return doc;
  let out: Doc = doc;
  for (const [path, kind] of hints) out = wrapAt(out, path.split("."), kind);
  return out;
}

/** Copies containers along `path` only (the rest is shared) and wraps the number found there. */
function wrapAt(current: Doc, path: string[], kind: NumberKind): Doc {
  const rebuild = (node: unknown, depth: number): unknown => {
    const key = path[depth];
    if (key === undefined) {
      if (typeof node !== "number") return node;
      return kind === "double" ? new Double(node) : Long.fromNumber(node);
    }
    if (Array.isArray(node)) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= node.length) return node;
      const child = rebuild(node[index], depth + 1);
      if (child === node[index]) return node;
      const copy = node.slice();
      copy[index] = child;
      return copy;
    }
    if (isPlainObject(node) && Object.hasOwn(node, key)) {
      const child = rebuild(node[key], depth + 1);
      if (child === node[key]) return node;
      return { ...node, [key]: child };
    }
    return node;
  };
  return rebuild(current, 0) as Doc;
}

/** Deep copy of plain objects/arrays; BSON value objects are immutable and shared. */
export function deepCopy<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(deepCopy) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (!isPlainObject(value)) return value;
  const out: Doc = {};
  for (const key of Object.keys(value)) out[key] = deepCopy(value[key]);
  return out as T;
}

/** Deep copy of a document that keeps its number hints. */
export function copyDoc(doc: Doc): Doc {
  const out = deepCopy(doc);
  setHints(out, hintsOf(doc));
  return out;
}

/**
 * Exact, order-sensitive identity of a value, used as the key of the `_id`
 * map and of unique indexes. Numbers of any BSON width compare equal (1 ==
 * 1.0 == 1L), as in mongod.
 */
export function keyOf(value: unknown): string {
  if (value === undefined || value === null) return "n";
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "d0" : `d${value}`;
    case "bigint":
      return `d${value}`;
    case "string":
      return `s${JSON.stringify(value)}`;
    case "boolean":
      return value ? "b1" : "b0";
  }
  if (value instanceof Date) return `t${value.getTime()}`;
  if (Array.isArray(value)) return `[${value.map(keyOf).join(",")}]`;
  if (value instanceof RegExp) return `r${value.source}/${value.flags}`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${keyOf(value[k])}`)
      .join(",")}}`;
  }
  const tag = bsonTypeOf(value as object);
  switch (tag) {
    case "ObjectId":
      return `o${(value as { toHexString(): string }).toHexString()}`;
    case "Decimal128":
      return `m${String(value)}`;
    case "Binary": {
      const bin = value as { sub_type: number; toString(encoding: "base64"): string };
      return `x${bin.sub_type}:${bin.toString("base64")}`;
    }
  }
  return `${tag ?? "?"}${EJSON.stringify(value as Doc, { relaxed: false })}`;
}

/** mongod's shell-like rendering of a key, used in E11000 messages. */
export function formatForMessage(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (Array.isArray(value)) return `[ ${value.map(formatForMessage).join(", ")} ]`;
  if (isPlainObject(value)) {
    const parts = Object.keys(value).map((k) => `${k}: ${formatForMessage(value[k])}`);
    return parts.length ? `{ ${parts.join(", ")} }` : "{}";
  }
  switch (bsonTypeOf(value as object)) {
    case "ObjectId":
      return `ObjectId('${(value as { toHexString(): string }).toHexString()}')`;
    case "Decimal128":
      return `Decimal128('${String(value)}')`;
  }
  return EJSON.stringify(value as Doc, { relaxed: true });
}

/** Values found at a dotted path, descending into arrays like mongod's index key extraction. */
export function valuesAtPath(doc: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  const walk = (node: unknown, parts: string[], i: number): void => {
    if (i === parts.length) {
      if (Array.isArray(node)) {
        if (node.length === 0) out.push(undefined);
        else for (const item of node) out.push(item);
      } else out.push(node);
      return;
    }
    const key = parts[i] as string;
    if (Array.isArray(node)) {
      const index = Number(key);
      if (Number.isInteger(index) && /^\d+$/.test(key)) {
        if (index < node.length) walk(node[index], parts, i + 1);
        return;
      }
      for (const item of node) if (isPlainObject(item)) walk(item, parts, i);
      return;
    }
    if (isPlainObject(node) && Object.hasOwn(node, key)) walk(node[key], parts, i + 1);
  };
  walk(doc, path.split("."), 0);
  return out;
}

/** Sets a dotted path, creating intermediate objects (used to build upserted documents). */
export function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split(".");
  let node: Doc = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i] as string;
    const next = node[key];
    if (isPlainObject(next)) node = next;
    else {
      const created: Doc = {};
      node[key] = created;
      node = created;
    }
  }
  node[parts[parts.length - 1] as string] = value;
}
