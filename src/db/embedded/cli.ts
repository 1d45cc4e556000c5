/**
 * `bun run db [--port 27017] [--dir ./data]`: runs the embedded store as a
 * standalone server (mongosh and Compass can connect) until SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { type EmbeddedStore, startEmbeddedStore } from "./index.ts";
import { DataDirectoryInUseError } from "./persistence.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    port: { type: "string", default: "27017" },
    dir: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port: ${values.port}`);
  process.exit(2);
}

/** A directory another store holds is an operator's mistake, told in one line, not a crash. */
async function start(): Promise<EmbeddedStore> {
  try {
    return await startEmbeddedStore({ port, host: values.host, dir: values.dir });
  } catch (error) {
    if (!(error instanceof DataDirectoryInUseError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

const store = await start();
console.log(`embedded MongoDB-compatible store listening on ${store.uri}`);
console.log(values.dir ? `data directory: ${values.dir}` : "in memory (use --dir to persist)");

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal} received, stopping...`);
  await store.stop();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
