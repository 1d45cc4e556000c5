import { createApp } from "./src/app.ts";
import { ConfigError, loadConfig } from "./src/config.ts";
import { openDatabase } from "./src/db/index.ts";
import { createLogger } from "./src/plugins/logger.ts";

function readConfig() {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) console.error(`config: ${problem}`);
    process.exit(1);
  }
}

const config = readConfig();
const log = createLogger(config.logLevel);
if (config.jwtSecretGenerated) {
  log.warn("JWT_SECRET is not set: using a random one, so tokens stop working at the next start");
}

const db = await openDatabase(config, log);
const app = createApp({ config, db, log }).listen({ port: config.port, hostname: "0.0.0.0" });
log.info({ port: app.server?.port, env: config.nodeEnv }, "listening");

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  // A second signal, or a request that never ends, must not keep the process alive forever.
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  try {
    // Sockets get 1001 (going away); requests in flight finish; then the database goes.
    await app.decorator.shutdown();
    await db.close();
    log.info("stopped");
    process.exit(0);
  } catch (error) {
    log.error({ err: error }, "shutdown failed");
    process.exit(1);
  }
}

process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
