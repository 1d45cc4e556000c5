/**
 * One app instance in a process of its own, so a test can kill it as a crash would (SIGKILL: no
 * graceful close, no presence cleanup). Started by `spawnInstance`; prints `{"port":N}` once it
 * listens.
 *
 * Environment: the app's own variables (REDIS_URL, JWT_SECRET, ...), plus TEST_MONGO_URI and
 * TEST_MONGO_DB (the database to share), TEST_REALTIME (RealtimeOptions as JSON), and TEST_PORT
 * (a port to listen on, so that a restarted instance keeps its URL; a free one by default).
 */
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { connect, databaseFrom } from "../../src/db/index.ts";
import { createLogger } from "../../src/plugins/logger.ts";

const env = process.env;
const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: env.LOG_LEVEL ?? "silent", ...env });
const log = createLogger(config.logLevel);
const db = databaseFrom(await connect(env.TEST_MONGO_URI!, env.TEST_MONGO_DB));
const app = createApp({
  config,
  db,
  log,
  realtime: JSON.parse(env.TEST_REALTIME ?? "{}"),
}).listen({ port: Number(env.TEST_PORT ?? 0), hostname: "127.0.0.1" });
console.log(JSON.stringify({ port: app.server!.port }));
