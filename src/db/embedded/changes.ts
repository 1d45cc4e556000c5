/**
 * The mutations the store journals. Every change to data or metadata is one
 * record; replaying them in order rebuilds the store. Each record sets state
 * (put a whole document, delete an id, drop) rather than describing a delta,
 * so replaying a record twice is harmless.
 */
import type { IndexSpec } from "./indexes.ts";
import type { Doc } from "./values.ts";

export type ChangeRecord =
  | { op: "createCollection"; db: string; coll: string; options: Doc }
  | { op: "createIndex"; db: string; coll: string; spec: IndexSpec }
  | { op: "dropIndex"; db: string; coll: string; name: string }
  | { op: "put"; db: string; coll: string; doc: Doc }
  | { op: "delete"; db: string; coll: string; id: unknown }
  | { op: "dropCollection"; db: string; coll: string }
  | { op: "dropDatabase"; db: string };

export interface ChangeSink {
  record(change: ChangeRecord): void;
}
