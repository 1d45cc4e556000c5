/**
 * Expo's push service, faked locally at the addresses `expo-server-sdk` posts to (it reads
 * `EXPO_BASE_URL` once, at import, so the app must start in a process of its own with `env`):
 * `POST /--/api/v2/push/send` takes a JSON array of messages (gzip'ed when the SDK compresses it)
 * and answers `{ data: [ticket] }`, one ticket per message in order; `POST
 * /--/api/v2/push/getReceipts` takes `{ ids }` and answers `{ data: { [id]: receipt } }`. Errors
 * come as Expo sends them, `{ errors: [{ code, message }] }`. It records every notification it
 * took, and fails, throttles or hangs on demand.
 */

export const SEND_PATH = "/--/api/v2/push/send";
export const RECEIPTS_PATH = "/--/api/v2/push/getReceipts";

/** One notification as the server sent it. */
export interface PushedMessage {
  to: string;
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  sound?: unknown;
  [field: string]: unknown;
}

/** Every request, answered or not. */
export interface ExpoRequest {
  path: string;
  /** 0 while it hangs. */
  status: number;
  gzip: boolean;
  authorization: string | null;
}

export interface FakeExpo {
  readonly url: string;
  /** What points an app process at this fake. */
  readonly env: { EXPO_BASE_URL: string };
  /** Notifications taken (answered 200), in order. */
  readonly pushes: PushedMessage[];
  readonly requests: ExpoRequest[];
  /** The receipt ids asked for, per getReceipts request. */
  readonly receiptQueries: string[][];
  /** Notifications to these tokens get a DeviceNotRegistered ticket. */
  unregisterAtSend(token: string): void;
  /** Notifications to these tokens get an ok ticket, then a DeviceNotRegistered receipt. */
  unregisterAtReceipt(token: string): void;
  /** The next `times` requests to `path` (send, by default) are answered with `status`. */
  failNext(times: number, status?: number, path?: string): void;
  /** From now on every request waits, unanswered, until `release`. */
  hang(): void;
  /** Stops hanging, and answers every request held meanwhile. */
  release(): void;
  /** Requests held by `hang` right now. */
  readonly held: number;
  pushesTo(token: string): PushedMessage[];
  /** Resolves once `check` holds, polling every 20 ms; rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

function errorBody(status: number) {
  const code = status === 429 ? "TOO_MANY_REQUESTS" : "INTERNAL_SERVER_ERROR";
  return { errors: [{ code, message: `fake Expo answers ${status}` }] };
}

function notRegistered(token: string) {
  return {
    status: "error" as const,
    message: `"${token}" is not a registered push notification recipient`,
    details: { error: "DeviceNotRegistered", expoPushToken: token },
  };
}

async function readJson(request: Request): Promise<{ json: unknown; gzip: boolean }> {
  const raw = new Uint8Array(await request.arrayBuffer());
  const gzip = request.headers.get("content-encoding") === "gzip";
  const text = new TextDecoder().decode(gzip ? Bun.gunzipSync(raw) : raw);
  return { json: JSON.parse(text), gzip };
}

function isMessage(value: unknown): value is PushedMessage {
  return typeof value === "object" && value !== null && typeof (value as any).to === "string";
}

export function startFakeExpo(): FakeExpo {
  const pushes: PushedMessage[] = [];
  const requests: ExpoRequest[] = [];
  const receiptQueries: string[][] = [];
  const goneAtSend = new Set<string>();
  const goneAtReceipt = new Set<string>();
  /** Receipt id → the token its notification went to. */
  const tickets = new Map<string, string>();
  let failures = { times: 0, status: 500, path: SEND_PATH };
  let hanging = false;
  const waiting: (() => void)[] = [];

  const send = (body: unknown) => {
    // Expo takes one message object or an array of them.
    const messages = Array.isArray(body) ? body : [body];
    if (!messages.every(isMessage)) {
      return Response.json(
        { errors: [{ code: "VALIDATION_ERROR", message: "each message needs a `to`" }] },
        { status: 400 },
      );
    }
    const data = messages.map((message) => {
      pushes.push(message);
      if (goneAtSend.has(message.to)) return notRegistered(message.to);
      const id = crypto.randomUUID();
      tickets.set(id, message.to);
      return { status: "ok" as const, id };
    });
    return Response.json({ data });
  };

  const receipts = (body: unknown) => {
    const ids = (body as { ids?: unknown })?.ids;
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
      return Response.json(
        { errors: [{ code: "VALIDATION_ERROR", message: "`ids` must be strings" }] },
        { status: 400 },
      );
    }
    receiptQueries.push(ids);
    const data: Record<string, unknown> = {};
    for (const id of ids) {
      const token = tickets.get(id);
      if (token === undefined) continue; // unknown or expired: Expo leaves it out
      data[id] = goneAtReceipt.has(token) ? notRegistered(token) : { status: "ok" };
    }
    return Response.json({ data });
  };

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const { json, gzip } = await readJson(request);
      const record: ExpoRequest = {
        path,
        status: 0,
        gzip,
        authorization: request.headers.get("authorization"),
      };
      requests.push(record);
      if (hanging) await new Promise<void>((resolve) => waiting.push(resolve));
      let response: Response;
      if (failures.times > 0 && failures.path === path) {
        failures.times--;
        response = Response.json(errorBody(failures.status), { status: failures.status });
      } else if (request.method === "POST" && path === SEND_PATH) {
        response = send(json);
      } else if (request.method === "POST" && path === RECEIPTS_PATH) {
        response = receipts(json);
      } else {
        response = Response.json(
          { errors: [{ code: "NOT_FOUND", message: path }] },
          { status: 404 },
        );
      }
      record.status = response.status;
      return response;
    },
  });
  const url = `http://127.0.0.1:${server.port}`;

  const fake: FakeExpo = {
    url,
    env: { EXPO_BASE_URL: url },
    pushes,
    requests,
    receiptQueries,
    unregisterAtSend: (token) => void goneAtSend.add(token),
    unregisterAtReceipt: (token) => void goneAtReceipt.add(token),
    failNext(times, status = 500, path = SEND_PATH) {
      failures = { times, status, path };
    },
    hang() {
      hanging = true;
    },
    release() {
      hanging = false;
      for (const resolve of waiting.splice(0)) resolve();
    },
    get held() {
      return waiting.length;
    },
    pushesTo: (token) => pushes.filter((p) => p.to === token),
    async until(check, timeoutMs = 5000, what = "the condition") {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline)
          throw new Error(`fake Expo: ${what} did not happen in ${timeoutMs} ms`);
        await Bun.sleep(20);
      }
    },
    async stop() {
      fake.release();
      await server.stop(true);
    },
  };
  return fake;
}
