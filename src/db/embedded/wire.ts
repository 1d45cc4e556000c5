/**
 * MongoDB wire protocol: framing of the TCP byte stream into messages,
 * decoding OP_QUERY (legacy handshake) and OP_MSG requests, and encoding
 * OP_REPLY / OP_MSG responses. Anything malformed raises ProtocolError, upon
 * which the connection (only) is closed.
 */
import { deserialize } from "bson";
import { type Doc, fromWire, isPlainObject, serializeDocument } from "./values.ts";

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

export const MAX_MESSAGE_BYTES = 48_000_000;
const HEADER_BYTES = 16;

const FLAG_CHECKSUM_PRESENT = 1 << 0;
const FLAG_MORE_TO_COME = 1 << 1;
const FLAG_EXHAUST_ALLOWED = 1 << 16;

export class ProtocolError extends Error {}

/** BSONObjMaxUserSize: no smaller message can hold a document over the limit. */
const MAX_USER_BSON_BYTES = 16 * 1024 * 1024;
/** BSONObjMaxInternalSize: mongod refuses a command body over it (code 10334). */
export const MAX_INTERNAL_BSON_BYTES = MAX_USER_BSON_BYTES + 16 * 1024;
/** Commands that arrived in a message over 16 MiB, with their body section's size. */
const largeMessages = new WeakMap<Doc, number>();

/** Whether a command came in a message large enough to hold a document over 16 MiB. */
export function fromLargeMessage(command: Doc): boolean {
  return largeMessages.has(command);
}

/** The size of a command's body when it is over what mongod accepts, else undefined. */
export function oversizedBody(command: Doc): number | undefined {
  const size = largeMessages.get(command);
  return size !== undefined && size > MAX_INTERNAL_BSON_BYTES ? size : undefined;
}

/** Splits a byte stream into complete messages, whatever the TCP chunking. */
export class FrameReader {
  private buffered: Uint8Array = new Uint8Array(0);

  /** Returns complete frames (copies, safe to keep); throws on an impossible length. */
  push(chunk: Uint8Array): Uint8Array[] {
    const data = this.buffered.length === 0 ? chunk : concat(this.buffered, chunk);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = readInt32(data, offset);
      if (length < HEADER_BYTES || length > MAX_MESSAGE_BYTES) {
        throw new ProtocolError(`invalid message length ${length}`);
      }
      if (data.length - offset < length) break;
      frames.push(data.slice(offset, offset + length));
      offset += length;
    }
    this.buffered = data.slice(offset);
    return frames;
  }
}

export interface Request {
  requestId: number;
  opCode: number;
  db: string;
  command: Doc;
  /** False for OP_MSG with moreToCome (unacknowledged writes). */
  expectsReply: boolean;
  /** OP_MSG exhaustAllowed: the client takes several replies (moreToCome) to this request. */
  exhaustAllowed: boolean;
}

export function decodeRequest(frame: Uint8Array): Request {
  const requestId = readInt32(frame, 4);
  const opCode = readInt32(frame, 12);
  try {
    if (opCode === OP_MSG) return decodeMsg(frame, requestId);
    if (opCode === OP_QUERY) return decodeQuery(frame, requestId);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(
      `undecodable message: ${error instanceof Error ? error.message : error}`,
    );
  }
  throw new ProtocolError(
    opCode === OP_COMPRESSED ? "compression was not negotiated" : `unsupported opCode ${opCode}`,
  );
}

function decodeMsg(frame: Uint8Array, requestId: number): Request {
  const flags = readUint32(frame, HEADER_BYTES);
  const end = frame.length - (flags & FLAG_CHECKSUM_PRESENT ? 4 : 0);
  let offset = HEADER_BYTES + 4;
  let body: Doc | undefined;
  let bodySize = 0;
  const sequences: Array<[string, Doc[]]> = [];
  while (offset < end) {
    const kind = frame[offset];
    offset += 1;
    if (kind === 0) {
      const size = documentSize(frame, offset, end);
      if (body) throw new ProtocolError("OP_MSG has more than one body section");
      body = decodeDocument(frame.subarray(offset, offset + size));
      bodySize = size;
      offset += size;
    } else if (kind === 1) {
      const size = readInt32(frame, offset);
      const sectionEnd = offset + size;
      if (size < 5 || sectionEnd > end) throw new ProtocolError("bad document sequence size");
      const nameEnd = frame.indexOf(0, offset + 4);
      if (nameEnd < 0 || nameEnd >= sectionEnd)
        throw new ProtocolError("bad document sequence identifier");
      const identifier = new TextDecoder().decode(frame.subarray(offset + 4, nameEnd));
      const docs: Doc[] = [];
      let position = nameEnd + 1;
      while (position < sectionEnd) {
        const docSize = documentSize(frame, position, sectionEnd);
        docs.push(decodeDocument(frame.subarray(position, position + docSize)));
        position += docSize;
      }
      sequences.push([identifier, docs]);
      offset = sectionEnd;
    } else {
      throw new ProtocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new ProtocolError("OP_MSG without body section");
  for (const [identifier, docs] of sequences) body[identifier] = docs;
  if (frame.length > MAX_USER_BSON_BYTES) largeMessages.set(body, bodySize);
  const db = body.$db;
  if (typeof db !== "string") throw new ProtocolError("OP_MSG command without $db");
  return {
    requestId,
    opCode: OP_MSG,
    db,
    command: body,
    expectsReply: (flags & FLAG_MORE_TO_COME) === 0,
    exhaustAllowed: (flags & FLAG_EXHAUST_ALLOWED) !== 0,
  };
}

function decodeQuery(frame: Uint8Array, requestId: number): Request {
  let offset = HEADER_BYTES + 4;
  const nameEnd = frame.indexOf(0, offset);
  if (nameEnd < 0) throw new ProtocolError("bad OP_QUERY collection name");
  const namespace = new TextDecoder().decode(frame.subarray(offset, nameEnd));
  offset = nameEnd + 1 + 8;
  const size = documentSize(frame, offset, frame.length);
  let command = decodeDocument(frame.subarray(offset, offset + size));
  // Legacy wrapping used when read preferences are attached.
  if (isPlainObject(command.$query)) command = command.$query;
  const dot = namespace.indexOf(".");
  const db = dot < 0 ? namespace : namespace.slice(0, dot);
  return { requestId, opCode: OP_QUERY, db, command, expectsReply: true, exhaustAllowed: false };
}

function documentSize(frame: Uint8Array, offset: number, end: number): number {
  if (offset + 5 > end) throw new ProtocolError("truncated BSON document");
  const size = readInt32(frame, offset);
  if (size < 5 || offset + size > end) throw new ProtocolError("bad BSON document size");
  return size;
}

function decodeDocument(bytes: Uint8Array): Doc {
  const value = fromWire(deserialize(bytes, { promoteValues: false }));
  if (!isPlainObject(value)) throw new ProtocolError("BSON document expected");
  return value;
}

/** A reply body already encoded as BSON (cursor batches are assembled from pre-encoded documents). */
export class RawDocument {
  constructor(readonly bytes: Uint8Array) {}
}

export type ReplyBody = Doc | RawDocument;

function encodeBody(body: ReplyBody): Uint8Array {
  return body instanceof RawDocument ? body.bytes : serializeDocument(body);
}

let nextResponseId = 1;

/**
 * `moreToCome` tells the client another reply follows without a request of its own; the OP_MSG
 * spec has each such follow-up answer the previous reply (`responseTo` = its requestID).
 */
export function encodeMsgReply(
  responseTo: number,
  body: ReplyBody,
  moreToCome = false,
): Uint8Array {
  const doc = encodeBody(body);
  const out = new Uint8Array(HEADER_BYTES + 4 + 1 + doc.length);
  writeHeader(out, responseTo, OP_MSG);
  if (moreToCome) {
    new DataView(out.buffer).setUint32(HEADER_BYTES, FLAG_MORE_TO_COME, true);
  }
  // Section kind 0 is already 0.
  out.set(doc, HEADER_BYTES + 5);
  return out;
}

/** The requestID in a message's header. */
export function requestIdOf(message: Uint8Array): number {
  return readInt32(message, 4);
}

export function encodeLegacyReply(responseTo: number, body: ReplyBody): Uint8Array {
  const doc = encodeBody(body);
  const out = new Uint8Array(HEADER_BYTES + 20 + doc.length);
  writeHeader(out, responseTo, OP_REPLY);
  const view = new DataView(out.buffer);
  // responseFlags 0, cursorID 0, startingFrom 0, numberReturned 1
  view.setInt32(HEADER_BYTES + 16, 1, true);
  out.set(doc, HEADER_BYTES + 20);
  return out;
}

function writeHeader(out: Uint8Array, responseTo: number, opCode: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setInt32(0, out.length, true);
  view.setInt32(4, nextResponseId++ & 0x7fffffff, true);
  view.setInt32(8, responseTo, true);
  view.setInt32(12, opCode, true);
}

function readInt32(bytes: Uint8Array, offset: number): number {
  if (offset + 4 > bytes.length) throw new ProtocolError("truncated message");
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(offset, true);
}

function readUint32(bytes: Uint8Array, offset: number): number {
  if (offset + 4 > bytes.length) throw new ProtocolError("truncated message");
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, true);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
