/**
 * Server-side cursors: results not returned in the first batch wait here for
 * getMore. Results are materialized up front; stored documents are immutable,
 * so holding references is cheap and gives each cursor a stable view.
 * Batches are handed out already BSON-encoded so their byte size can be capped
 * (a reply must stay under the 16 MiB document limit) without encoding twice.
 */
import { Long } from "bson";
import { ErrorCode, StoreError } from "./errors.ts";
import type { Doc } from "./values.ts";

const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
export const DEFAULT_FIRST_BATCH = 101;
/** Room left for the reply envelope around a batch of at most 16 MiB. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 16 * 1024;

interface OpenCursor {
  ns: string;
  docs: Doc[];
  position: number;
  lastUsed: number;
}

export interface Batch {
  docs: Uint8Array[];
  /** 0 once the cursor is exhausted (or was never kept). */
  id: Long;
}

export class CursorRegistry {
  private readonly cursors = new Map<bigint, OpenCursor>();
  private nextId = BigInt(Date.now()) * 1000n;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly encode: (doc: Doc) => Uint8Array) {
    this.sweeper = setInterval(() => this.expireIdle(Date.now()), 60_000);
    this.sweeper.unref?.();
  }

  /** Returns the first batch and keeps the rest open unless `singleBatch`. */
  open(ns: string, docs: Doc[], batchSize: number | undefined, singleBatch: boolean): Batch {
    const size = batchSize === undefined || batchSize <= 0 ? DEFAULT_FIRST_BATCH : batchSize;
    const first = this.take(docs, 0, size);
    if (singleBatch || first.length >= docs.length) return { docs: first, id: Long.ZERO };
    const id = ++this.nextId;
    this.cursors.set(id, { ns, docs, position: first.length, lastUsed: Date.now() });
    return { docs: first, id: Long.fromBigInt(id) };
  }

  getMore(id: bigint, ns: string, batchSize: number | undefined): Batch {
    const cursor = this.cursors.get(id);
    if (!cursor) throw new StoreError(ErrorCode.CursorNotFound, `cursor id ${id} not found`);
    if (cursor.ns !== ns) {
      throw new StoreError(
        ErrorCode.CursorNotFound,
        `cursor id ${id} was not created on namespace ${ns}`,
      );
    }
    const size = batchSize === undefined || batchSize <= 0 ? Number.POSITIVE_INFINITY : batchSize;
    const docs = this.take(cursor.docs, cursor.position, size);
    cursor.position += docs.length;
    cursor.lastUsed = Date.now();
    if (cursor.position >= cursor.docs.length) {
      this.cursors.delete(id);
      return { docs, id: Long.ZERO };
    }
    return { docs, id: Long.fromBigInt(id) };
  }

  /** Encodes up to `count` documents from `start`, stopping early at the byte cap (always at least one). */
  private take(docs: Doc[], start: number, count: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let bytes = 0;
    for (let i = start; i < docs.length && out.length < count; i++) {
      const encoded = this.encode(docs[i] as Doc);
      if (out.length > 0 && bytes + encoded.length > MAX_BATCH_BYTES) break;
      out.push(encoded);
      bytes += encoded.length;
    }
    return out;
  }

  kill(ids: bigint[]): { killed: bigint[]; notFound: bigint[] } {
    const killed: bigint[] = [];
    const notFound: bigint[] = [];
    for (const id of ids) (this.cursors.delete(id) ? killed : notFound).push(id);
    return { killed, notFound };
  }

  expireIdle(now: number): void {
    for (const [id, cursor] of this.cursors) {
      if (now - cursor.lastUsed > IDLE_TIMEOUT_MS) this.cursors.delete(id);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.cursors.clear();
  }
}
