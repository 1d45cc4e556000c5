/**
 * Hand-assembled BSON for cursor replies, so documents encoded once (and
 * size-capped) by the cursor layer are embedded without re-serialization:
 * { cursor: { <batchField>: [ ...docs ], id: Int64, ns: String }, ok: 1.0 }
 */
import type { Long } from "bson";

const TYPE_DOUBLE = 0x01;
const TYPE_STRING = 0x02;
const TYPE_DOCUMENT = 0x03;
const TYPE_ARRAY = 0x04;
const TYPE_INT64 = 0x12;

const encoder = new TextEncoder();

export function cursorReply(
  batchField: "firstBatch" | "nextBatch",
  docs: Uint8Array[],
  id: Long,
  ns: string,
): Uint8Array {
  const array = documentOf(docs.map((doc, i) => element(TYPE_DOCUMENT, String(i), doc)));
  const idBytes = new Uint8Array(8);
  new DataView(idBytes.buffer).setBigInt64(0, id.toBigInt(), true);
  const cursor = documentOf([
    element(TYPE_ARRAY, batchField, array),
    element(TYPE_INT64, "id", idBytes),
    element(TYPE_STRING, "ns", stringValue(ns)),
  ]);
  const ok = new Uint8Array(8);
  new DataView(ok.buffer).setFloat64(0, 1, true);
  return documentOf([element(TYPE_DOCUMENT, "cursor", cursor), element(TYPE_DOUBLE, "ok", ok)]);
}

function element(type: number, name: string, value: Uint8Array): Uint8Array[] {
  return [Uint8Array.of(type), encoder.encode(name), Uint8Array.of(0), value];
}

function stringValue(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(4 + bytes.length + 1);
  new DataView(out.buffer).setInt32(0, bytes.length + 1, true);
  out.set(bytes, 4);
  return out;
}

function documentOf(elements: Uint8Array[][]): Uint8Array {
  const parts = elements.flat();
  const size = 4 + parts.reduce((sum, part) => sum + part.length, 0) + 1;
  const out = new Uint8Array(size);
  new DataView(out.buffer).setInt32(0, size, true);
  let offset = 4;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
