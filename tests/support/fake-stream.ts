/**
 * Stream's REST API, faked locally for both SDKs the server uses: `stream-chat` (paths like
 * `/users`) and `@stream-io/node-sdk` (paths under `/api/v2/`). It checks what Stream checks (the
 * `api_key` query parameter and a server-side HS256 JWT signed with the API secret carrying
 * `server: true`), keeps the users, calls and channels it holds, records every call, and fails on
 * demand.
 */
import { jwtVerify } from "jose";

interface ChannelData {
  created_at?: string;
  created_by_id?: string;
  custom?: Record<string, unknown>;
  members?: { user_id: string }[];
}

export interface FakeChannel {
  created_by_id?: string;
  members: Set<string>;
  data: ChannelData;
}

export interface StreamCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
}

export type CallMatcher = string | ((call: StreamCall) => boolean);

export interface FakeStream {
  readonly url: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  /** The env that points the server at this fake. */
  readonly env: Record<string, string>;
  /** Every authenticated call, in order. */
  readonly calls: StreamCall[];
  /** Requests refused for a bad key or token. */
  readonly refused: { path: string; reason: string }[];
  readonly users: Map<string, Record<string, unknown>>;
  readonly videoCalls: Map<string, Record<string, unknown>>;
  readonly channels: Map<string, FakeChannel>;
  /**
   * The next `times` calls that match fail with `status`. A string matches "<METHOD> <path
   * prefix>", e.g. "POST /api/v2/chat/channels/messaging/".
   */
  failNext(match: CallMatcher, options?: { times?: number; status?: number }): void;
  /** Calls matching `match` so far. */
  callsTo(match: CallMatcher): StreamCall[];
  stop(): Promise<void>;
}

function matches(match: CallMatcher, call: StreamCall): boolean {
  if (typeof match === "function") return match(call);
  return `${call.method} ${call.path}`.startsWith(match);
}

function now(): string {
  return new Date().toISOString();
}

function callResponse(cid: string, data: Record<string, unknown>) {
  const [type, id] = cid.split(":");
  return {
    type,
    id,
    cid,
    created_at: data.created_at,
    updated_at: now(),
    custom: data.custom ?? {},
    created_by: { id: data.created_by_id, custom: {}, created_at: now(), updated_at: now() },
  };
}

function channelResponse(cid: string, channel: FakeChannel) {
  const [type, id] = cid.split(":");
  return {
    type,
    id,
    cid,
    created_at: channel.data.created_at,
    updated_at: now(),
    custom: channel.data.custom ?? {},
    frozen: false,
    disabled: false,
  };
}

export function fakeStream(
  apiKey = `key${crypto.randomUUID().slice(0, 8)}`,
  apiSecret = `secret${crypto.randomUUID().replaceAll("-", "")}`,
): FakeStream {
  const calls: StreamCall[] = [];
  const refused: FakeStream["refused"] = [];
  const failures: { match: CallMatcher; times: number; status: number }[] = [];
  const users = new Map<string, Record<string, unknown>>();
  const videoCalls = new Map<string, Record<string, unknown>>();
  const channels: FakeStream["channels"] = new Map();
  const key = new TextEncoder().encode(apiSecret);

  const streamError = (status: number, message: string) =>
    Response.json(
      { code: status === 404 ? 16 : 4, message, StatusCode: status, duration: "0.1ms" },
      { status },
    );

  async function authorize(request: Request, url: URL): Promise<string | undefined> {
    if (url.searchParams.get("api_key") !== apiKey) return "wrong api_key";
    const token = request.headers.get("authorization") ?? "";
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] });
      if (payload.server !== true) return "not a server token";
    } catch {
      return "bad token";
    }
    return undefined;
  }

  function route(call: StreamCall): Response {
    const { method, path, body } = call;
    const ok = (payload: Record<string, unknown>) =>
      Response.json({ ...payload, duration: "0.1ms" });

    // Users: stream-chat uses /users, the node SDK /api/v2/users.
    if (method === "POST" && (path === "/users" || path === "/api/v2/users")) {
      const given = (body?.users ?? {}) as Record<string, Record<string, unknown>>;
      for (const [id, user] of Object.entries(given)) {
        users.set(id, { ...users.get(id), ...user, id, updated_at: now() });
      }
      return ok({ users: Object.fromEntries(Object.keys(given).map((id) => [id, users.get(id)])) });
    }
    if (method === "POST" && (path === "/users/delete" || path === "/api/v2/users/delete")) {
      for (const id of (body?.user_ids ?? []) as string[]) users.delete(id);
      return ok({ task_id: crypto.randomUUID() });
    }
    const userPath = /^\/users\/([^/]+)$/.exec(path);
    if (method === "DELETE" && userPath) {
      const id = decodeURIComponent(userPath[1]!);
      const user = users.get(id);
      users.delete(id);
      return user ? ok({ user }) : streamError(404, "user does not exist");
    }

    // Video calls.
    const callPath = /^\/api\/v2\/video\/call\/([^/]+)\/([^/]+)(\/delete)?$/.exec(path);
    if (callPath && method === "PATCH" && !callPath[3]) {
      const cid = `${callPath[1]}:${callPath[2]}`;
      const existing = videoCalls.get(cid);
      if (!existing) return streamError(404, "call does not exist");
      const before = (existing.custom ?? {}) as Record<string, unknown>;
      const custom = body?.custom ? { custom: { ...before, ...body.custom } } : {};
      videoCalls.set(cid, { ...existing, ...custom });
      return ok({ call: callResponse(cid, videoCalls.get(cid)!), members: [] });
    }
    if (callPath && method === "POST") {
      const m = callPath;
      const cid = `${m[1]}:${m[2]}`;
      if (m[3]) {
        const existing = videoCalls.get(cid);
        if (!existing) return streamError(404, "call does not exist");
        videoCalls.delete(cid);
        return ok({ call: callResponse(cid, existing) });
      }
      const created = !videoCalls.has(cid);
      if (created) videoCalls.set(cid, { ...(body?.data ?? {}), created_at: now() });
      return ok({
        call: callResponse(cid, videoCalls.get(cid)!),
        members: [],
        created,
        own_capabilities: [],
      });
    }

    // Chat channels.
    const m = /^\/api\/v2\/chat\/channels\/([^/]+)\/([^/]+)(\/query)?$/.exec(path);
    if (m) {
      const cid = `${m[1]}:${m[2]}`;
      if (method === "POST" && m[3]) {
        if (!channels.has(cid)) {
          const data = body?.data ?? {};
          const members = new Set<string>(
            (data.members ?? []).map((x: { user_id: string }) => x.user_id),
          );
          channels.set(cid, {
            created_by_id: data.created_by_id,
            members,
            data: { ...data, created_at: now() },
          });
        }
        const channel = channels.get(cid)!;
        return ok({
          channel: channelResponse(cid, channel),
          members: [...channel.members].map((user_id) => ({ user_id })),
          messages: [],
        });
      }
      const channel = channels.get(cid);
      if (!channel) return streamError(404, "channel does not exist");
      if (method === "POST") {
        for (const member of (body?.add_members ?? []) as { user_id: string }[])
          channel.members.add(member.user_id);
        for (const id of (body?.remove_members ?? []) as string[]) channel.members.delete(id);
        return ok({
          channel: channelResponse(cid, channel),
          members: [...channel.members].map((user_id) => ({ user_id })),
        });
      }
      if (method === "DELETE") {
        channels.delete(cid);
        return ok({ channel: channelResponse(cid, channel) });
      }
    }
    return streamError(404, `no route for ${method} ${path}`);
  }

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      const reason = await authorize(request, url);
      if (reason) {
        refused.push({ path: url.pathname, reason });
        return streamError(401, reason);
      }
      const text = await request.text();
      const call: StreamCall = {
        method: request.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: text ? JSON.parse(text) : undefined,
      };
      calls.push(call);
      const failure = failures.find((f) => f.times > 0 && matches(f.match, call));
      if (failure) {
        failure.times--;
        return streamError(failure.status, "injected failure");
      }
      return route(call);
    },
  });

  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    apiKey,
    apiSecret,
    env: { STREAM_API_KEY: apiKey, STREAM_API_SECRET: apiSecret, STREAM_BASE_URL: url },
    calls,
    refused,
    users,
    videoCalls,
    channels,
    failNext(match, options = {}) {
      failures.push({ match, times: options.times ?? 1, status: options.status ?? 500 });
    },
    callsTo(match) {
      return calls.filter((call) => matches(match, call));
    },
    async stop() {
      await server.stop(true);
    },
  };
}
