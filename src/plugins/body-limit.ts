import { Elysia, ParseError } from "elysia";
import { PayloadTooLargeError } from "../errors.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Bun's own `maxRequestBodySize` answers with a bare 413 and no body; this plugin answers the
 * contract's JSON 413 instead. A declared Content-Length is checked before the body is read; a
 * chunked body is counted while it streams in and cut off at the limit. Bun's limit stays on as a
 * backstop (see BACKSTOP_BODY_BYTES) so nothing unbounded is ever buffered.
 */
export const BACKSTOP_BODY_BYTES = 16 * MAX_BODY_BYTES;

async function readLimited(request: Request): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new PayloadTooLargeError(MAX_BODY_BYTES);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export const bodyLimit = new Elysia({ name: "body-limit" })
  .onRequest(({ request }) => {
    const length = Number(request.headers.get("content-length") ?? 0);
    if (length > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  })
  .onParse({ as: "global" }, async ({ request, contentType }) => {
    if (!contentType.startsWith("application/json")) {
      if (request.headers.has("content-length")) return;
      // Other chunked bodies: enforce the limit, then let Elysia's parsers see plain text.
      return readLimited(request);
    }
    const text = await readLimited(request);
    if (text.trim() === "") return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ParseError();
    }
  });
