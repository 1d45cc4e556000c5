import { timingSafeEqual as sameBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Elysia } from "elysia";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { UnauthorizedError } from "../errors.ts";
import type { MessageStored, StoredListener } from "../modules/messages/service.ts";

/**
 * The process's own figures: CPU, resident memory and event-loop delay, one set per process
 * however many apps it runs (tests run many), since they are process-wide anyway. Built by hand
 * rather than with prom-client's default collectors: under Bun those call V8's heap-space
 * statistics, 10-20 ms a scrape that grew with the heap and showed in the bench's latency tail.
 * Each of these is a field read (microseconds).
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (processRegistry) return processRegistry;
  processRegistry = new Registry();
  const registers = [processRegistry];
  let cpuCounted = 0;
  new Counter({
    name: "process_cpu_seconds_total",
    help: "User and system CPU time spent, in seconds",
    registers,
    collect() {
      const { user, system } = process.cpuUsage();
      const seconds = (user + system) / 1e6;
      this.inc(seconds - cpuCounted);
      cpuCounted = seconds;
    },
  });
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size, in bytes",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const lag = new Gauge({
    name: "nodejs_eventloop_lag_seconds",
    help: "Event-loop delay since the last scrape, by quantile (0.5, 0.99, 1 = the maximum)",
    labelNames: ["quantile"],
    registers,
    collect() {
      // Nanoseconds; an empty histogram reports huge values, so nothing is said then.
      if (delay.count > 0) {
        lag.set({ quantile: "0.5" }, delay.percentile(50) / 1e9);
        lag.set({ quantile: "0.99" }, delay.percentile(99) / 1e9);
        lag.set({ quantile: "1" }, delay.max / 1e9);
      }
      delay.reset();
    },
  });
  return processRegistry;
}

/** What the metrics read when scraped; each is a field read, no I/O. */
export interface MetricSources {
  socketsOpen(): number;
  /** Frames handed to the broker so far (one per topic an event is published to). */
  framesPublished(): number;
  databaseUp(): boolean;
  /** Absent without Redis. */
  redisUp?: () => boolean;
}

/** Route labels stay few: unknown paths (404s, scanners) all count as one. */
const UNMATCHED = "unmatched";

/**
 * The contract's `GET /metrics`, for Prometheus: sockets open, messages stored, send →
 * acknowledgement latency, fan-out, HTTP requests by route and status, database and Redis up, and
 * the process's event-loop lag, CPU and memory. The hot paths only bump a counter or observe a
 * number; whatever can be read when scraped (sockets, fan-out, up/down) is read then.
 */
export class AppMetrics implements StoredListener {
  private readonly registry = new Registry();
  private readonly stored: Counter;
  private readonly sendSeconds: Histogram;
  private readonly requests: Counter<"method" | "route" | "status">;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    new Gauge({
      name: "chat_sockets_open",
      help: "WebSocket connections open on this instance",
      registers,
      collect() {
        this.set(sources.socketsOpen());
      },
    });
    let counted = 0;
    new Counter({
      name: "chat_fanout_frames_total",
      help: "Frames handed to the broker for fan-out (one per topic an event goes to)",
      registers,
      collect() {
        const now = sources.framesPublished();
        this.inc(now - counted);
        counted = now;
      },
    });
    this.stored = new Counter({
      name: "chat_messages_stored_total",
      help: "Messages stored by this instance (resends of a stored message not counted)",
      registers,
    });
    this.sendSeconds = new Histogram({
      name: "chat_send_ack_seconds",
      help: "From a send arriving to its acknowledgement: stored and fanned out",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.requests = new Counter({
      name: "http_requests_total",
      help: "HTTP requests answered, by method, route pattern and status",
      labelNames: ["method", "route", "status"],
      registers,
    });
    new Gauge({
      name: "chat_database_up",
      help: "1 while the database is reachable (the driver's view), else 0",
      registers,
      collect() {
        this.set(sources.databaseUp() ? 1 : 0);
      },
    });
    const redisUp = sources.redisUp;
    if (redisUp) {
      new Gauge({
        name: "chat_redis_up",
        help: "1 while both Redis connections are up, else 0",
        registers,
        collect() {
          this.set(redisUp() ? 1 : 0);
        },
      });
    }
  }

  messageStored(event: MessageStored): void {
    this.stored.inc();
    this.sendSeconds.observe(event.elapsedMs / 1000);
  }

  request(method: string, route: string | undefined, status: number): void {
    this.requests.inc({ method, route: route || UNMATCHED, status: String(status) });
  }

  async text(): Promise<{ body: string; contentType: string }> {
    const merged = Registry.merge([processMetrics(), this.registry]);
    return { body: await merged.metrics(), contentType: merged.contentType };
  }
}

/**
 * `GET /metrics` (open, or behind `Authorization: Bearer <METRICS_TOKEN>` when one is set) and
 * the count of every HTTP request by its route pattern.
 */
export function metricsPlugin(metrics: AppMetrics, token: string | undefined) {
  const expected = token ? `Bearer ${token}` : undefined;
  return new Elysia({ name: "metrics" })
    .onAfterResponse({ as: "global" }, ({ request, route, set }) => {
      const status = typeof set.status === "number" ? set.status : 200;
      metrics.request(request.method, route, status);
    })
    .get(
      "/metrics",
      async ({ headers }) => {
        if (expected && !timingSafeEqual(headers.authorization ?? "", expected)) {
          throw new UnauthorizedError("A valid metrics token is required");
        }
        const { body, contentType } = await metrics.text();
        return new Response(body, { headers: { "content-type": contentType } });
      },
      {
        detail: {
          tags: ["health"],
          summary: "Prometheus metrics (Bearer METRICS_TOKEN when it is set)",
        },
      },
    );
}

function timingSafeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && sameBytes(left, right);
}
