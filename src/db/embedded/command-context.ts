/**
 * What every command handler receives, and helpers that validate command
 * arguments with mongod's error codes (TypeMismatch for wrong BSON types).
 */
import type { ObjectId } from "bson";
import type { CursorRegistry } from "./cursors.ts";
import type { Catalog } from "./database.ts";
import { typeMismatch } from "./errors.ts";
import { type Doc, isPlainObject } from "./values.ts";
import type { ReplyBody } from "./wire.ts";

/** Who this server process is, for hello: drivers tell a restart by a new processId. */
export interface TopologyVersion {
  readonly processId: ObjectId;
  /** Counts topology changes; a standalone has none, so it stays 0. */
  readonly counter: number;
}

export interface ServerInfo {
  readonly startedAt: number;
  readonly host: string;
  readonly port: number;
  readonly topologyVersion: TopologyVersion;
  connectionCount(): number;
}

export interface CommandContext {
  readonly catalog: Catalog;
  readonly cursors: CursorRegistry;
  readonly server: ServerInfo;
  readonly db: string;
  readonly connectionId: number;
  readonly remoteAddress: string;
}

/** Handlers run synchronously against memory, which makes every command atomic with respect to others. */
export type CommandHandler = (command: Doc, context: CommandContext) => ReplyBody;

export function stringArg(command: Doc, field: string): string {
  const value = command[field];
  if (typeof value !== "string") {
    throw typeMismatch(`collection name has invalid type ${describeType(value)}`);
  }
  return value;
}

export function docArg(command: Doc, field: string): Doc {
  const value = command[field];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value))
    throw typeMismatch(
      `BSON field '${field}' is the wrong type '${describeType(value)}', expected type 'object'`,
    );
  return value;
}

export function optionalDocArg(command: Doc, field: string): Doc | undefined {
  return command[field] === undefined || command[field] === null
    ? undefined
    : docArg(command, field);
}

export function numberArg(command: Doc, field: string): number | undefined {
  const value = command[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "bigint") return Number(value);
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw typeMismatch(
      `BSON field '${field}' is the wrong type '${describeType(value)}', expected a number`,
    );
  }
  return Math.trunc(value);
}

export function arrayArg(command: Doc, field: string): unknown[] {
  const value = command[field];
  if (!Array.isArray(value)) {
    throw typeMismatch(
      `BSON field '${field}' is the wrong type '${describeType(value)}', expected type 'array'`,
    );
  }
  return value;
}

export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "missing";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "double";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "bool";
  if (isPlainObject(value)) return "object";
  return (value as { _bsontype?: string })._bsontype ?? typeof value;
}
