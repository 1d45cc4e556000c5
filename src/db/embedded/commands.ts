/**
 * Command dispatch: picks the handler by the command's first field, rejects
 * transactions (standalone servers do not have them), and turns any failure
 * into an `ok: 0` reply with mongod's code, never a crash or a stack trace.
 */
import * as admin from "./admin-commands.ts";
import * as catalogCommands from "./catalog-commands.ts";
import type { CommandContext, CommandHandler } from "./command-context.ts";
import { ErrorCode, StoreError, toStoreError } from "./errors.ts";
import * as read from "./read-commands.ts";
import type { Doc } from "./values.ts";
import { MAX_INTERNAL_BSON_BYTES, oversizedBody, type ReplyBody } from "./wire.ts";
import * as write from "./write-commands.ts";

const HANDLERS: Record<string, CommandHandler> = {
  hello: admin.hello,
  isMaster: admin.hello,
  ismaster: admin.hello,
  ping: admin.ping,
  buildInfo: admin.buildInfo,
  buildinfo: admin.buildInfo,
  endSessions: admin.acknowledge,
  killSessions: admin.acknowledge,
  killAllSessions: admin.acknowledge,
  refreshSessions: admin.acknowledge,
  getParameter: admin.getParameter,
  getLog: admin.getLog,
  hostInfo: admin.hostInfo,
  serverStatus: admin.serverStatus,
  connectionStatus: admin.connectionStatus,
  whatsmyuri: admin.whatsmyuri,
  getCmdLineOpts: admin.getCmdLineOpts,
  insert: write.insert,
  update: write.update,
  delete: write.remove,
  findAndModify: write.findAndModify,
  findandmodify: write.findAndModify,
  find: read.find,
  getMore: read.getMore,
  killCursors: read.killCursors,
  aggregate: read.aggregate,
  count: read.count,
  distinct: read.distinct,
  create: catalogCommands.create,
  drop: catalogCommands.drop,
  dropDatabase: catalogCommands.dropDatabase,
  createIndexes: catalogCommands.createIndexes,
  listIndexes: catalogCommands.listIndexes,
  dropIndexes: catalogCommands.dropIndexes,
  deleteIndexes: catalogCommands.dropIndexes,
  listCollections: catalogCommands.listCollections,
  listDatabases: catalogCommands.listDatabases,
  dbStats: catalogCommands.dbStats,
  collMod: catalogCommands.collMod,
};

const TRANSACTION_COMMANDS = new Set(["commitTransaction", "abortTransaction"]);

function transactionError(): StoreError {
  return new StoreError(
    ErrorCode.IllegalOperation,
    "Transaction numbers are only allowed on a replica set member or mongos",
  );
}

/** mongod refuses an OP_MSG body over BSONObjMaxInternalSize while parsing it (BSONObj's check). */
function tooLargeBody(size: number, name: string, value: unknown): StoreError {
  const first = typeof value === "string" ? JSON.stringify(value) : String(value);
  return new StoreError(
    ErrorCode.BSONObjectTooLarge,
    `BSONObj size: ${size} (0x${size.toString(16).toUpperCase()}) is invalid. Size must be between 0 and ${MAX_INTERNAL_BSON_BYTES}(16MB) First element: ${name}: ${first}`,
  );
}

export function runCommand(command: Doc, context: CommandContext): ReplyBody {
  const name = Object.keys(command)[0];
  try {
    if (name === undefined) throw new StoreError(ErrorCode.FailedToParse, "empty command");
    const bodySize = oversizedBody(command);
    if (bodySize !== undefined) throw tooLargeBody(bodySize, name, command[name]);
    if (
      TRANSACTION_COMMANDS.has(name) ||
      command.startTransaction !== undefined ||
      command.autocommit !== undefined ||
      command.txnNumber !== undefined
    ) {
      throw transactionError();
    }
    const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
    if (!handler) throw new StoreError(ErrorCode.CommandNotFound, `no such command: '${name}'`);
    return handler(command, context);
  } catch (error) {
    return toStoreError(error).toReply();
  }
}
