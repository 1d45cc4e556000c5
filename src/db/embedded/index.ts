/**
 * Embedded MongoDB-compatible store: an in-process server speaking the
 * MongoDB wire protocol, for development and tests without a mongod.
 * Production points the same code at a real MongoDB; only the URI differs.
 */
import { CursorRegistry } from "./cursors.ts";
import { Catalog } from "./database.ts";
import { Journal } from "./persistence.ts";
import { startServer } from "./server.ts";
import { serializeDocument, toWire } from "./values.ts";

export interface EmbeddedStoreOptions {
  /** 0 or omitted = a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** Directory for the journal; omitted = in memory only. */
  dir?: string;
}

export interface EmbeddedStore {
  readonly uri: string;
  readonly port: number;
  stop(): Promise<void>;
}

const TTL_SWEEP_MS = 60_000;

export async function startEmbeddedStore(
  options: EmbeddedStoreOptions = {},
): Promise<EmbeddedStore> {
  const host = options.host ?? "127.0.0.1";
  const catalog = new Catalog();
  let journal: Journal | undefined;
  if (options.dir) {
    const opened = Journal.open(options.dir);
    for (const change of opened.changes) catalog.apply(change);
    const active = opened.journal;
    active.setSnapshotSource(() => catalog.snapshot());
    catalog.listener = (change) => active.append(change);
    journal = active;
  }
  const durable = () => journal?.sync() ?? Promise.resolve();
  const cursors = new CursorRegistry((doc) => serializeDocument(toWire(doc)));
  let server: ReturnType<typeof startServer>;
  try {
    server = startServer({ host, port: options.port ?? 0, catalog, cursors, durable });
  } catch (error) {
    cursors.close();
    await journal?.close();
    throw error;
  }
  const ttlSweep = setInterval(() => catalog.expire(Date.now()), TTL_SWEEP_MS);
  ttlSweep.unref?.();

  let stopping: Promise<void> | undefined;
  const port = server.port;
  return {
    uri: `mongodb://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    stop() {
      stopping ??= (async () => {
        clearInterval(ttlSweep);
        await server.stop();
        cursors.close();
        await journal?.close();
      })();
      return stopping;
    },
  };
}
