import { Elysia, ParseError } from "elysia";
import { PayloadTooLargeError, RequestTimeoutError, UnsupportedMediaTypeError } from "../errors.ts";
import { assertSafeInput } from "./input-guard.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Bun's own `maxRequestBodySize` answers with a bare 413 and no body; this plugin answers the
 * contract's JSON 413 instead. A declared Content-Length is checked before the body is read; a
 * chunked body is counted while it streams in and cut off at the limit. Bun's limit stays on as a
 * backstop (see BACKSTOP_BODY_BYTES) so nothing unbounded is ever buffered.
 */
export const BACKSTOP_BODY_BYTES = 16 * MAX_BODY_BYTES;

/**
 * Reads the body within the size limit and before the deadline. Bun's `idleTimeout` only notices a
 * connection that goes silent, and then closes it without a word; the deadline covers the whole
 * body, so a client dripping a byte now and then cannot hold a connection either, and it is told
 * why (408).
 */
async function readLimited(request: Request, timeoutMs: number): Promise<string> {
  if (!request.body) return "";
  const reader = request.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RequestTimeoutError(timeoutMs)), timeoutMs);
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), expired]);
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** True when the Content-Type names JSON: `application/json`, with or without parameters. */
export function isJson(contentType: string | null): boolean {
  if (!contentType) return false;
  const semicolon = contentType.indexOf(";");
  const mediaType = semicolon === -1 ? contentType : contentType.slice(0, semicolon);
  return mediaType.trim().toLowerCase() === "application/json";
}

/** A request carries a body when it declares a non-zero length or streams one in chunks. */
function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  if (length !== null) return length.trim() !== "0";
  return request.headers.has("transfer-encoding");
}

/**
 * Every request body is read here, so the size limit and the deadline (REQUEST_BODY_TIMEOUT_MS,
 * `timeoutMs`) hold for all of them. Bodies are JSON only: one with another Content-Type, or none,
 * is refused (415) on arrival, before routing, unread, whatever the route: forms, multipart and
 * `text/plain` are what a foreign page can post with the visitor's cookie and no CORS preflight.
 * A JSON body is checked for NUL characters and nesting (see plugins/input-guard.ts) as soon as it
 * is parsed, before any schema or handler sees it.
 */
export function bodyLimit(timeoutMs: number) {
  return new Elysia({ name: "body-limit" })
    .onRequest(({ request }) => {
      const length = Number(request.headers.get("content-length") ?? 0);
      if (length > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
      if (hasBody(request) && !isJson(request.headers.get("content-type"))) {
        throw new UnsupportedMediaTypeError();
      }
    })
    .onParse({ as: "global" }, async ({ request, contentType }) => {
      // Refused on arrival already; nothing but an empty body gets here without JSON.
      if (!isJson(contentType)) {
        if (hasBody(request)) throw new UnsupportedMediaTypeError();
        return null;
      }
      const text = await readLimited(request, timeoutMs);
      if (text.trim() === "") return null;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ParseError();
      }
      assertSafeInput(body, "body");
      return body;
    });
}
