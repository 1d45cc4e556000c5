/**
 * Durable storage: a single append-only journal file, `<dir>/journal.bson`.
 *
 * Format: a sequence of records, each
 *
 *     uint32 LE  payload length in bytes
 *     uint32 LE  CRC32 of the payload (Bun.hash.crc32)
 *     payload    one BSON document: { op, db, coll?, options? | spec? | name? | doc? | id? }
 *
 * where `op` is one of the ChangeRecord kinds in changes.ts. Documents are
 * written with their exact BSON types (Double/Long restored from hints).
 *
 * Durability: a command's reply is sent only after every record it produced
 * has been written and fsync'd. Records queued while a write+fsync is in
 * flight are written together by the next one (group commit), so concurrent
 * clients share fsyncs.
 *
 * Crash safety: on open, records are replayed until the first one that is
 * incomplete, fails its CRC or does not decode; the file is truncated there.
 * Only the tail can be torn (appends), and every acknowledged record precedes
 * it. Compaction writes the whole state as fresh records to `journal.bson.tmp`,
 * fsyncs it, renames it over the journal and fsyncs the directory, so a crash
 * leaves either the old or the new complete file.
 *
 * `<dir>/LOCK` holds the owning process id so two stores never append to the
 * same journal; a lock left by a dead process is taken over.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { deserialize } from "bson";
import type { ChangeRecord } from "./changes.ts";
import { type Doc, fromWire, serializeDocument, toWire } from "./values.ts";

const HEADER_BYTES = 8;
const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Journal size that triggers compaction, and the growth factor over the last compacted size. */
const COMPACT_MIN_BYTES = 16 * 1024 * 1024;
const COMPACT_GROWTH = 2;
const COMPACT_CHUNK_BYTES = 1024 * 1024;

export function encodeRecord(change: ChangeRecord): Uint8Array {
  const body: Doc = change.op === "put" ? { ...change, doc: toWire(change.doc) } : { ...change };
  const payload = serializeDocument(body);
  const record = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(record.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, Bun.hash.crc32(payload), true);
  record.set(payload, HEADER_BYTES);
  return record;
}

/** Decodes complete, valid records; `validBytes` is where the first bad or torn record starts. */
export function decodeRecords(data: Uint8Array): { changes: ChangeRecord[]; validBytes: number } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const changes: ChangeRecord[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= data.length) {
    const length = view.getUint32(offset, true);
    const crc = view.getUint32(offset + 4, true);
    const end = offset + HEADER_BYTES + length;
    if (length < 5 || length > MAX_RECORD_BYTES || end > data.length) break;
    const payload = data.subarray(offset + HEADER_BYTES, end);
    if (Bun.hash.crc32(payload) !== crc) break;
    try {
      changes.push(fromWire(deserialize(payload, { promoteValues: false })) as ChangeRecord);
    } catch {
      break;
    }
    offset = end;
  }
  return { changes, validBytes: offset };
}

export class Journal {
  private pending: Uint8Array[] = [];
  private appended = 0;
  private durable = 0;
  private waiters: Array<{ seq: number; resolve: () => void; reject: (error: Error) => void }> = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private fileBytes: number;
  private compactedBytes: number;
  private snapshotSource: (() => Iterable<ChangeRecord>) | undefined;

  private constructor(
    private readonly dir: string,
    private fd: number,
    size: number,
  ) {
    this.fileBytes = size;
    this.compactedBytes = size;
  }

  private static fileIn(dir: string): string {
    return path.join(dir, "journal.bson");
  }

  /** Opens (creating if needed) the journal in `dir`, returning the changes to replay. */
  static open(dir: string): { journal: Journal; changes: ChangeRecord[] } {
    fs.mkdirSync(dir, { recursive: true });
    acquireLock(dir);
    try {
      return Journal.openLocked(dir);
    } catch (error) {
      releaseLock(dir);
      throw error;
    }
  }

  private static openLocked(dir: string): { journal: Journal; changes: ChangeRecord[] } {
    const file = Journal.fileIn(dir);
    fs.rmSync(`${file}.tmp`, { force: true });
    const data = fs.existsSync(file) ? fs.readFileSync(file) : new Uint8Array(0);
    const { changes, validBytes } = decodeRecords(data);
    if (validBytes < data.length) {
      // A torn or corrupt tail: drop it so new records append after the last good one.
      fs.truncateSync(file, validBytes);
    }
    const fd = fs.openSync(file, "a");
    fs.fsyncSync(fd);
    fsyncDirectory(dir);
    return { journal: new Journal(dir, fd, validBytes), changes };
  }

  /** Where compaction reads the complete current state from. */
  setSnapshotSource(source: () => Iterable<ChangeRecord>): void {
    this.snapshotSource = source;
  }

  append(change: ChangeRecord): void {
    this.pending.push(encodeRecord(change));
    this.appended++;
    if (!this.flushing) this.flushing = this.flushLoop();
  }

  /** Resolves once everything appended so far is on disk. */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.durable >= this.appended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq: this.appended, resolve, reject });
    });
  }

  /** Flushes, compacts and closes. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    try {
      if (!this.failure) this.compact();
    } finally {
      fs.closeSync(this.fd);
      releaseLock(this.dir);
    }
  }

  private async flushLoop(): Promise<void> {
    // Let every command that runs in this tick queue its records first.
    await Promise.resolve();
    try {
      while (this.pending.length > 0) {
        const batch = Buffer.concat(this.pending);
        const upTo = this.appended;
        this.pending = [];
        await writeFully(this.fd, batch);
        await fsyncAsync(this.fd);
        this.fileBytes += batch.length;
        this.durable = upTo;
        this.releaseWaiters();
      }
      if (this.fileBytes > Math.max(COMPACT_MIN_BYTES, this.compactedBytes * COMPACT_GROWTH))
        this.compact();
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      for (const waiter of this.waiters) waiter.reject(this.failure);
      this.waiters = [];
    } finally {
      this.flushing = undefined;
    }
  }

  private releaseWaiters(): void {
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.seq <= this.durable) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  /**
   * Rewrites the journal as the current state. Runs synchronously with nothing
   * pending, so the snapshot is exactly the state the old file describes.
   */
  private compact(): void {
    if (!this.snapshotSource || this.pending.length > 0) return;
    const file = Journal.fileIn(this.dir);
    const tmp = `${file}.tmp`;
    const out = fs.openSync(tmp, "w");
    let written = 0;
    try {
      let chunk: Uint8Array[] = [];
      let chunkBytes = 0;
      for (const change of this.snapshotSource()) {
        const record = encodeRecord(change);
        chunk.push(record);
        chunkBytes += record.length;
        if (chunkBytes >= COMPACT_CHUNK_BYTES) {
          written += writeFullySync(out, Buffer.concat(chunk));
          chunk = [];
          chunkBytes = 0;
        }
      }
      if (chunk.length) written += writeFullySync(out, Buffer.concat(chunk));
      fs.fsyncSync(out);
    } finally {
      fs.closeSync(out);
    }
    fs.renameSync(tmp, file);
    fsyncDirectory(this.dir);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(file, "a");
    this.fileBytes = written;
    this.compactedBytes = written;
  }
}

function writeFully(fd: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number) => {
      fs.write(fd, data, offset, data.length - offset, null, (error, bytes) => {
        if (error) reject(error);
        else if (offset + bytes < data.length) step(offset + bytes);
        else resolve();
      });
    };
    step(0);
  });
}

function writeFullySync(fd: number, data: Uint8Array): number {
  let offset = 0;
  while (offset < data.length) offset += fs.writeSync(fd, data, offset, data.length - offset);
  return data.length;
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.fsync(fd, (error) => (error ? reject(error) : resolve())),
  );
}

/** Makes a rename or file creation itself durable. */
function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Directories locked by this process (a second store in the same process must fail too). */
const heldLocks = new Set<string>();

/** Another store (in this process or another) holds the directory's lock. */
export class DataDirectoryInUseError extends Error {
  constructor(dir: string, owner: number) {
    const by = owner === process.pid ? "this process" : `process ${owner}`;
    super(`data directory ${dir} is already in use by ${by}`);
    this.name = "DataDirectoryInUseError";
  }
}

function acquireLock(dir: string): void {
  const lock = path.join(path.resolve(dir), "LOCK");
  if (heldLocks.has(lock)) throw new DataDirectoryInUseError(dir, process.pid);
  try {
    const owner = Number(fs.readFileSync(lock, "utf8"));
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new DataDirectoryInUseError(dir, owner);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  fs.writeFileSync(lock, String(process.pid));
  heldLocks.add(lock);
}

function releaseLock(dir: string): void {
  const lock = path.join(path.resolve(dir), "LOCK");
  heldLocks.delete(lock);
  fs.rmSync(lock, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
