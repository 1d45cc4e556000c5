/**
 * Handshake and the informational commands drivers, mongosh and Compass send.
 * We present ourselves as a standalone mongod 7.0 (wire version 21): no
 * setName, so drivers neither retry writes nor start transactions. Like every
 * mongod since 4.4, hello carries a topologyVersion and can be awaited
 * (server monitoring spec, "Awaitable hello"): drivers stream it, and on a
 * network error they drop their monitoring connection and check afresh, which
 * is how they find a restarted server again.
 */
import * as os from "node:os";
import { Long, ObjectId } from "bson";
import type { CommandHandler, TopologyVersion } from "./command-context.ts";
import { StoreError, typeMismatch } from "./errors.ts";
import type { Doc } from "./values.ts";

export const SERVER_VERSION = "7.0.0";
export const MAX_WIRE_VERSION = 21;
export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
export const MAX_WRITE_BATCH_SIZE = 100_000;

export const hello: CommandHandler = (command, context) => {
  const { topologyVersion } = context.server;
  helloWaitMs(command, topologyVersion);
  return {
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    topologyVersion: {
      processId: topologyVersion.processId,
      counter: Long.fromNumber(topologyVersion.counter),
    },
    maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: context.connectionId,
    minWireVersion: 0,
    maxWireVersion: MAX_WIRE_VERSION,
    readOnly: false,
    ok: 1,
  };
};

const HELLO_NAMES = new Set(["hello", "isMaster", "ismaster"]);

/**
 * How long an awaitable hello waits before it is answered, or undefined for an ordinary hello
 * (answered at once). mongod answers at once when the client's topologyVersion is from another
 * process or older than its own, and otherwise when its topology changes or maxAwaitTimeMS
 * elapses; a standalone's topology never changes, so that is maxAwaitTimeMS. Malformed requests
 * get mongod's codes.
 */
export function helloWaitMs(command: Doc, current: TopologyVersion): number | undefined {
  // Asked of every command: its name is the first key, found without listing them all.
  let name: string | undefined;
  for (name in command) break;
  if (name === undefined || !HELLO_NAMES.has(name)) return undefined;
  const theirs = command.topologyVersion;
  const maxAwaitTimeMS = command.maxAwaitTimeMS;
  if (theirs === undefined && maxAwaitTimeMS === undefined) return undefined;
  if (theirs === undefined || maxAwaitTimeMS === undefined) {
    throw new StoreError(
      31368,
      theirs === undefined
        ? "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'"
        : "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'",
    );
  }
  if (
    theirs === null ||
    typeof theirs !== "object" ||
    !((theirs as Doc).processId instanceof ObjectId) ||
    typeof (theirs as Doc).counter !== "number"
  ) {
    throw typeMismatch(
      "BSON field 'topologyVersion' must be { processId: objectId, counter: long }",
    );
  }
  if (typeof maxAwaitTimeMS !== "number" || !Number.isInteger(maxAwaitTimeMS)) {
    throw typeMismatch("BSON field 'maxAwaitTimeMS' must be an integer");
  }
  if (maxAwaitTimeMS < 0) {
    throw new StoreError(31373, "maxAwaitTimeMS must be a non-negative integer");
  }
  const { processId, counter } = theirs as { processId: ObjectId; counter: number };
  if (counter < 0) {
    throw new StoreError(31372, "topologyVersion must have a non-negative counter");
  }
  if (!processId.equals(current.processId)) return 0;
  if (counter > current.counter) {
    throw new StoreError(
      31382,
      "Received a topology version with the same process ID and a higher counter than the server",
    );
  }
  return counter < current.counter ? 0 : maxAwaitTimeMS;
}

export const ping: CommandHandler = () => ({ ok: 1 });

export const buildInfo: CommandHandler = () => ({
  version: SERVER_VERSION,
  gitVersion: "embedded",
  versionArray: SERVER_VERSION.split(".").map(Number).concat(0),
  modules: [],
  allocator: "system",
  javascriptEngine: "none",
  sysInfo: "deprecated",
  openssl: { running: "disabled" },
  buildEnvironment: {},
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
  storageEngines: ["embedded"],
  ok: 1,
});

export const acknowledge: CommandHandler = () => ({ ok: 1 });

export const getParameter: CommandHandler = (command) => {
  const reply: Doc = {};
  if (command.featureCompatibilityVersion !== undefined || command.getParameter === "*") {
    reply.featureCompatibilityVersion = { version: "7.0" };
  }
  reply.ok = 1;
  return reply;
};

export const getLog: CommandHandler = (command) =>
  command.getLog === "*"
    ? { names: ["global", "startupWarnings"], ok: 1 }
    : { totalLinesWritten: 0, log: [], ok: 1 };

export const hostInfo: CommandHandler = () => ({
  system: {
    currentTime: new Date(),
    hostname: os.hostname(),
    cpuAddrSize: 64,
    memSizeMB: Math.round(os.totalmem() / 1048576),
    numCores: os.cpus().length,
    cpuArch: os.arch(),
  },
  os: { type: os.type(), name: os.platform(), version: os.release() },
  extra: {},
  ok: 1,
});

export const serverStatus: CommandHandler = (_command, context) => {
  const uptimeMillis = Date.now() - context.server.startedAt;
  return {
    host: `${os.hostname()}:${context.server.port}`,
    version: SERVER_VERSION,
    process: "mongod",
    pid: process.pid,
    uptime: Math.floor(uptimeMillis / 1000),
    uptimeMillis,
    localTime: new Date(),
    connections: { current: context.server.connectionCount(), available: 1000 },
    storageEngine: { name: "embedded", persistent: true },
    ok: 1,
  };
};

export const connectionStatus: CommandHandler = () => ({
  authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] },
  ok: 1,
});

export const whatsmyuri: CommandHandler = (_command, context) => ({
  you: context.remoteAddress,
  ok: 1,
});

export const getCmdLineOpts: CommandHandler = () => ({ argv: process.argv, parsed: {}, ok: 1 });
