import { type App, createApp } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { connect, type Database, databaseFrom } from "../../src/db/index.ts";
import { createLogger } from "../../src/plugins/logger.ts";
import type { RealtimeOptions } from "../../src/realtime/index.ts";
import { type Api, apiClient } from "./http.ts";
import { testMongo } from "./mongo.ts";
import { openSocket, type TestSocket } from "./ws.ts";

export interface TestApp {
  readonly app: App;
  readonly config: Config;
  readonly db: Database;
  /** e.g. http://127.0.0.1:43121 */
  readonly url: string;
  readonly api: Api;
  /** Opens a WebSocket on /ws, authenticated with `token` when given. */
  socket(token?: string, query?: Record<string, string>): Promise<TestSocket>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  /** An existing database to share (several instances of one deployment); the caller stops it. */
  mongo?: { uri: string; dbName: string };
  realtime?: RealtimeOptions;
  /** Where the app's log lines go; the configured level still applies. Stdout by default. */
  logTo?: { write(line: string): void };
}

/**
 * Starts the real app on a free port with a database of its own: a fresh embedded store, or a
 * fresh database on MONGODB_URI when that is set (unless `options.mongo` names one to share).
 * `env` is read exactly as the process environment would be.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    ...env,
  });
  const log = createLogger(config.logLevel, options.logTo);
  const owned = options.mongo ? undefined : await testMongo();
  const mongo = options.mongo ?? owned!;
  const connection = await connect(mongo.uri, mongo.dbName);
  const db = databaseFrom(connection, owned && (() => owned.stop()));
  const app = createApp({ config, db, log, realtime: options.realtime }).listen({
    port: 0,
    hostname: "127.0.0.1",
  });
  const url = `http://127.0.0.1:${app.server!.port}`;
  const sockets: TestSocket[] = [];

  return {
    app,
    config,
    db,
    url,
    api: apiClient(url),
    async socket(token, query = {}) {
      const params = new URLSearchParams(query);
      if (token) params.set("token", token);
      const socket = await openSocket(`${url.replace("http", "ws")}/ws?${params}`);
      sockets.push(socket);
      return socket;
    },
    async stop() {
      await Promise.all(sockets.map((s) => s.close().catch(() => {})));
      await app.decorator.shutdown(true);
      await db.close();
    },
  };
}
