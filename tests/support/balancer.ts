/**
 * A small load balancer for tests: one URL in front of several app instances, as clients see a
 * deployment. Each HTTP request and each WebSocket goes to the first backend that accepts the
 * connection, so killing the one in use sends every reconnect to the next. Frames pass through
 * it, so a test can also drop chosen frames on their way to the client, or stop forwarding
 * altogether without closing anything (a silent network).
 */
import type { ServerWebSocket } from "bun";

interface Pipe {
  upstream: WebSocket;
  /** Frames that came from the backend before the client's side of the socket opened. */
  early: (string | Buffer)[];
  client?: ServerWebSocket<Pipe>;
}

export interface Balancer {
  /** e.g. http://127.0.0.1:43123 */
  readonly url: string;
  /** In order of preference, e.g. `http://127.0.0.1:40001`. */
  backends: string[];
  /** Sees each frame from a backend to a client; returning false drops it. */
  filter: ((frame: string) => boolean) | undefined;
  /** While true nothing is forwarded either way, and nothing is closed. */
  silent: boolean;
  /** Every HTTP request passed on, as `GET /path?query`. */
  readonly requests: string[];
  /** How many client sockets are open through it. */
  readonly sockets: number;
  /** Ends every socket through it at once, both ways, as a network cut would (1006). */
  cut(): void;
  stop(): void;
}

/** Answers of the headers a browser or an app sends with an upgrade, passed on to the backend. */
const UPGRADE_HEADERS = ["cookie", "origin", "authorization"];

type Upstream = { socket: WebSocket; early: Pipe["early"] } | { status: number } | undefined;

/** Opens the backend's side first, so a refused upgrade (401, 403, 503) reaches the client as such. */
function openUpstream(url: string, headers: Record<string, string>): Promise<Upstream> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    const early: Pipe["early"] = [];
    let failure = "";
    socket.onmessage = (event) => early.push(event.data);
    socket.onopen = () => resolve({ socket, early });
    socket.onerror = (event) => {
      failure = String((event as ErrorEvent).message ?? "");
    };
    socket.onclose = () => {
      const status = /status code: (\d+)/.exec(failure)?.[1];
      resolve(status ? { status: Number(status) } : undefined);
    };
  });
}

export function startBalancer(backends: string[]): Balancer {
  const pipes = new Set<Pipe>();
  const balancer = {
    backends,
    requests: [] as string[],
    filter: undefined as Balancer["filter"],
    silent: false,
  };

  const server = Bun.serve<Pipe>({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request, server) {
      const url = new URL(request.url);
      const path = url.pathname + url.search;
      if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
        const headers: Record<string, string> = {};
        for (const name of UPGRADE_HEADERS) {
          const value = request.headers.get(name);
          if (value !== null) headers[name] = value;
        }
        for (const backend of balancer.backends) {
          const upstream = await openUpstream(backend.replace(/^http/, "ws") + path, headers);
          if (!upstream) continue;
          if ("status" in upstream) return new Response(null, { status: upstream.status });
          const pipe: Pipe = { upstream: upstream.socket, early: upstream.early };
          if (server.upgrade(request, { data: pipe })) return undefined;
          upstream.socket.close();
          return new Response("upgrade failed", { status: 400 });
        }
        return new Response(null, { status: 502 });
      }
      balancer.requests.push(`${request.method} ${path}`);
      const body = request.body ? await request.arrayBuffer() : undefined;
      const headers = new Headers(request.headers);
      headers.delete("host");
      for (const backend of balancer.backends) {
        try {
          return await fetch(backend + path, {
            method: request.method,
            headers,
            body,
            redirect: "manual",
          });
        } catch {
          // That backend is down: the next one.
        }
      }
      return new Response("no backend", { status: 502 });
    },
    websocket: {
      open(client) {
        const pipe = client.data;
        pipe.client = client;
        pipes.add(pipe);
        const toClient = (data: string | Buffer) => {
          if (balancer.silent) return;
          if (balancer.filter && !balancer.filter(String(data))) return;
          client.send(data);
        };
        for (const data of pipe.early.splice(0)) toClient(data);
        pipe.upstream.onmessage = (event) => toClient(event.data);
        pipe.upstream.onclose = ({ code, reason }) => {
          pipes.delete(pipe);
          // 1005 and 1006 cannot be sent: the connection just ends, as the backend's did.
          if (code === 1005 || code === 1006) client.terminate();
          else client.close(code, reason);
        };
      },
      message(client, message) {
        if (!balancer.silent) client.data.upstream.send(message);
      },
      close(client, code, reason) {
        pipes.delete(client.data);
        const { upstream } = client.data;
        upstream.onclose = null;
        try {
          upstream.close(code >= 3000 || (code >= 1000 && code < 1004) ? code : 1000, reason);
        } catch {
          upstream.close();
        }
      },
    },
  });

  return Object.assign(balancer, {
    url: `http://127.0.0.1:${server.port}`,
    get sockets() {
      return pipes.size;
    },
    cut() {
      for (const pipe of [...pipes]) {
        pipes.delete(pipe);
        pipe.upstream.onclose = null;
        pipe.upstream.close();
        pipe.client?.terminate();
      }
    },
    stop() {
      for (const pipe of pipes) pipe.client?.terminate();
      server.stop(true);
    },
  });
}
