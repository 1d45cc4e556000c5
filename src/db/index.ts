import mongoose from "mongoose";
import type { Config } from "../config.ts";
import type { Logger } from "../plugins/logger.ts";
import { type EmbeddedStore, startEmbeddedStore } from "./embedded/index.ts";

export interface Database {
  readonly connection: mongoose.Connection;
  /** False while the driver knows the database is out of reach (its monitor says so). */
  readonly reachable: boolean;
  /** True when the database answers a ping within the timeout. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Wraps an open Mongoose connection; the caller owns whatever server is behind it. */
export function databaseFrom(
  connection: mongoose.Connection,
  onClose?: () => Promise<void>,
): Database {
  // What the driver's monitor last concluded, from its topology events. Not Mongoose's
  // readyState: that also reads "disconnected" once the monitor has been quiet for two heartbeats,
  // and under Bun the monitor can fall quiet for good (a check written into a socket Bun destroyed
  // on the server's FIN, before reporting it closed, is never answered). The driver replaces such a
  // monitor only when an operation fails on the network, so a gate that kept operations out while
  // the monitor is quiet would never open again. A server that stops answering is for the driver
  // to notice: connectTimeoutMS in connect() bounds how long its monitor waits.
  let serverKnown = connection.readyState === mongoose.ConnectionStates.connected;
  connection.getClient().on("topologyDescriptionChanged", (event) => {
    serverKnown = event.newDescription.hasDataBearingServers;
  });
  return {
    connection,
    get reachable() {
      return serverKnown;
    },
    async ping(timeoutMs = 2000) {
      const db = connection.db;
      if (!db || !serverKnown) return false;
      let timer: Timer | undefined;
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        return await Promise.race([
          db
            .admin()
            .ping()
            .then(() => true)
            .catch(() => false),
          timeout,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await connection.close();
      await onClose?.();
    },
  };
}

export async function connect(uri: string, dbName?: string): Promise<mongoose.Connection> {
  return mongoose
    .createConnection(uri, {
      dbName,
      serverSelectionTimeoutMS: 5000,
      // While the database is out of reach requests fail fast (plugins/database-gate.ts) and
      // only the driver's monitor looks for it: every second rather than the default ten.
      heartbeatFrequencyMS: 1000,
      // Also how long the monitor waits on a server that went silent (frozen, cut off) beyond its
      // heartbeat, before it calls the server unknown and fails the operations waiting on it:
      // about 4 s rather than the default 31. Connecting and the handshake get the same bound.
      connectTimeoutMS: 3000,
      // Fail at once rather than queue inside Mongoose while the connection is down; the models
      // are created only after the connection has opened (createApp), so nothing needs the queue.
      bufferCommands: false,
      autoIndex: true,
    })
    .asPromise();
}

/**
 * Opens the configured MongoDB, or starts the embedded store in-process when none is configured.
 * The embedded store keeps its data under `.data/` so a developer's data survives a restart.
 */
export async function openDatabase(
  config: Config,
  log: Logger,
  dataDir = ".data",
): Promise<Database> {
  if (config.mongodbUri) {
    const connection = await connect(config.mongodbUri);
    log.info({ database: "mongodb", name: connection.name }, "connected to MongoDB");
    return databaseFrom(connection);
  }
  const store: EmbeddedStore = await startEmbeddedStore({ dir: dataDir });
  const connection = await connect(store.uri, "app");
  log.info(
    { database: "embedded", uri: store.uri, dir: dataDir },
    "connected to the embedded store",
  );
  return databaseFrom(connection, () => store.stop());
}
