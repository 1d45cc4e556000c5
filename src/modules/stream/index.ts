import { Elysia } from "elysia";
import type { AuthPlugin } from "../../plugins/auth.ts";
import { AUTHENTICATED, AUTHENTICATED_CHANGE, withErrors } from "../common/model.ts";
import { StreamToken } from "./model.ts";
import { issueStreamToken, type StreamService } from "./service.ts";

export interface StreamModuleDeps {
  auth: AuthPlugin;
  /** Null when Stream is not configured: the routes answer 503 STREAM_DISABLED. */
  stream: StreamService | null;
}

/** The Stream user token, at its two historical addresses. */
export function streamModule({ auth, stream }: StreamModuleDeps) {
  const detail = {
    tags: ["stream"],
    summary: "A Stream user token for the caller (upserts the Stream user first)",
    description: "503 STREAM_DISABLED when Stream is not configured; 502 UPSTREAM when it fails.",
  };
  return new Elysia({ name: "stream" })
    .use(auth)
    .get("/api/chat/token", ({ user }) => issueStreamToken(stream, user), {
      auth: true,
      response: withErrors(StreamToken, [...AUTHENTICATED, 502]),
      detail,
    })
    .post("/api/auth/stream-token", ({ user }) => issueStreamToken(stream, user), {
      auth: true,
      response: withErrors(StreamToken, [...AUTHENTICATED_CHANGE, 502]),
      detail: { ...detail, summary: "Same as GET /api/chat/token" },
    });
}
