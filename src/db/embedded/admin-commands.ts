/**
 * Handshake and the informational commands drivers, mongosh and Compass send.
 * We present ourselves as a standalone mongod 7.0 (wire version 21): no
 * setName, so drivers neither retry writes nor start transactions, and no
 * topologyVersion, so they poll with hello instead of streaming.
 */
import * as os from "node:os";
import type { CommandHandler } from "./command-context.ts";
import type { Doc } from "./values.ts";

export const SERVER_VERSION = "7.0.0";
export const MAX_WIRE_VERSION = 21;
export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;
export const MAX_WRITE_BATCH_SIZE = 100_000;

export const hello: CommandHandler = (_command, context) => ({
  helloOk: true,
  ismaster: true,
  isWritablePrimary: true,
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
});

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
