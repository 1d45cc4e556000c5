/**
 * `bun run bench [--only client,chat,broadcast,connections,rest,redis] [--users 1000]
 * [--sockets 10000] [--subscribers 1000] [--duration 6] [--step 3] [--rates 1,2,...,9]
 * [--fixed 100,1000,half] [--concurrency 64] [--window 32] [--mongodb-uri URI]
 * [--no-redis | --start-redis] [--no-metrics] [--profile] [--out FILE]`
 *
 * Starts the database, the app (`bun index.ts`) and the baseline (a bare Bun.serve) as separate
 * processes, drives them from load-generator processes with real WebSocket and HTTP clients on
 * 127.0.0.1, prints a table and writes bench/results/<timestamp>.json. Method: BENCHMARKS.md.
 * `client` needs none of that: it bundles the client SDK for the browser and measures it.
 *
 * `--fixed`: after the stepped saturation search, the chat workload runs one step per entry for
 * `--duration` seconds: a total rate in messages/s, or `half` (half the saturation found).
 * The redis workload uses REDIS_URL, else a private redis-server when one is installed;
 * `--no-redis` skips it. `--no-metrics`: do not scrape the app's `GET /metrics` once a second
 * during the chat workloads.
 */
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BundleFigures, measureClientBundle } from "./lib/bundle.ts";
import {
  type Child,
  cpuSeconds,
  freePort,
  rssBytes,
  spawnChild,
  stopAll,
  waitForHttp,
  waitForPort,
} from "./lib/processes.ts";
import type { ChatPair, Command, Reply } from "./lib/protocol.ts";
import { type Seeded, seed } from "./lib/seed.ts";
import { fmt, formatGrid, formatTable, percentile, type Row, round } from "./lib/stats.ts";

/** A fixed-rate chat step: messages/s over all users, or half of the saturation found. */
type FixedRate = number | "half";

const WORKLOADS = ["client", "chat", "broadcast", "connections", "rest", "redis"] as const;
type Workload = (typeof WORKLOADS)[number];
/** The workloads that need the database, a seeded store and app processes. */
const SERVER_WORKLOADS: readonly Workload[] = ["chat", "broadcast", "connections", "rest", "redis"];

const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    only: { type: "string", default: WORKLOADS.join(",") },
    users: { type: "string", default: "1000" },
    sockets: { type: "string", default: "10000" },
    subscribers: { type: "string", default: "1000" },
    duration: { type: "string", default: "6" },
    step: { type: "string", default: "3" },
    rates: { type: "string", default: "1,2,3,4,5,6,7,8,9" },
    fixed: { type: "string", default: "100,1000,half" },
    concurrency: { type: "string", default: "64" },
    window: { type: "string", default: "32" },
    "mongodb-uri": { type: "string" },
    profile: { type: "boolean", default: false },
    /** Now the default when redis-server is installed and REDIS_URL is not set; kept for scripts. */
    "start-redis": { type: "boolean", default: false },
    "no-redis": { type: "boolean", default: false },
    /** Do not scrape the app's `GET /metrics` during the chat workload (to compare). */
    "no-metrics": { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log(
    (await Bun.file(import.meta.path).text()).split("*/")[0]?.replace(/^\/\*\*|^ \* ?/gm, ""),
  );
  process.exit(0);
}

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number (got ${value})`);
    process.exit(2);
  }
  return n;
}

const only = new Set(
  (flags.only ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const name of only) {
  if (!WORKLOADS.includes(name as Workload)) {
    console.error(`--only: unknown workload "${name}" (known: ${WORKLOADS.join(", ")})`);
    process.exit(2);
  }
}
const opts = {
  users: Math.max(2, Math.floor(positive("users", flags.users) / 2) * 2),
  sockets: Math.floor(positive("sockets", flags.sockets)),
  subscribers: Math.max(3, Math.floor(positive("subscribers", flags.subscribers))),
  durationMs: positive("duration", flags.duration) * 1000,
  stepMs: positive("step", flags.step) * 1000,
  /** Sends per second per user, stepped; kept under the contract's 10/s per-user limit. */
  rates: (flags.rates ?? "")
    .split(",")
    .map((r) => positive("rates", r))
    .filter((r) => r < 10),
  /** Fixed-rate chat steps after the saturation search: messages/s in total, or half of saturation. */
  fixed: (flags.fixed ?? "")
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r): FixedRate => (r === "half" ? "half" : positive("fixed", r))),
  concurrency: Math.floor(positive("concurrency", flags.concurrency)),
  window: Math.floor(positive("window", flags.window)),
};
if (flags["no-redis"] && flags["start-redis"]) {
  console.error("--no-redis and --start-redis: pick one");
  process.exit(2);
}

/** Hard stop: whatever happens, the bench ends and takes its processes with it. */
const HARD_LIMIT_MS = 20 * 60_000;
setTimeout(() => {
  console.error("bench: hard time limit reached; stopping");
  void stopAll().finally(() => process.exit(3));
}, HARD_LIMIT_MS).unref();

/** `--profile`: the app and the database write CPU profiles (markdown) there when they stop. */
const PROFILE_DIR = join(tmpdir(), "chat-server-bench-profiles");
const profileFlags = (name: string) =>
  flags.profile
    ? ["--cpu-prof-md", `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}-${Date.now()}.md`]
    : [];

const JWT_SECRET = `bench-${crypto.randomUUID()}-${crypto.randomUUID()}`;
/** The app's `GET /metrics` token: the bench sets it, so the endpoint answers it either way. */
const METRICS_TOKEN = `bench-metrics-${crypto.randomUUID()}`;
const log = (message: string) =>
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

// ---- processes ----

/** One load-generator process, one request at a time. */
class Generator {
  private waiting: ((reply: Reply) => void) | undefined;
  readonly child: Child;

  constructor(name: string) {
    this.child = spawnChild({
      name,
      cmd: ["bun", "bench/load-client.ts"],
      ipc: (message) => {
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve?.(message as Reply);
      },
    });
  }

  request<T extends Reply["type"]>(
    command: Command,
    expect: T,
  ): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const exited = this.child.proc.exited.then(() =>
        reject(new Error(`${this.child.name} exited:\n${this.child.output()}`)),
      );
      this.waiting = (reply) => {
        void exited;
        if (reply.type === "error") reject(new Error(`${this.child.name}: ${reply.message}`));
        else if (reply.type !== expect) reject(new Error(`${this.child.name}: got ${reply.type}`));
        else resolve(reply as Extract<Reply, { type: T }>);
      };
      this.child.send(command);
    });
  }
}

function generators(count: number, name: string): Generator[] {
  return Array.from({ length: count }, (_, i) => new Generator(`${name}-${i}`));
}

async function closeGenerators(gens: Generator[]): Promise<void> {
  await Promise.all(gens.map((g) => g.request({ cmd: "close" }, "closed").catch(() => undefined)));
  await Promise.all(gens.map((g) => g.child.stop()));
}

interface Server {
  child: Child;
  port: number;
  http: string;
  ws: string;
}

/** The app as it runs in production: `bun index.ts`, its own process, pointed at the database. */
async function startApp(mongodbUri: string, env: Record<string, string> = {}): Promise<Server> {
  const port = freePort();
  const child = spawnChild({
    name: `app:${port}`,
    cmd: ["bun", ...profileFlags("app"), "index.ts"],
    nofile: 65536,
    env: {
      PORT: String(port),
      MONGODB_URI: mongodbUri,
      JWT_SECRET,
      NODE_ENV: "production",
      // Request lines at info would be part of what is measured; warn keeps the log quiet.
      LOG_LEVEL: "warn",
      REDIS_URL: "",
      METRICS_TOKEN,
      ...env,
    },
  });
  const http = `http://127.0.0.1:${port}`;
  await waitForHttp(`${http}/ready`, child);
  return { child, port, http, ws: `ws://127.0.0.1:${port}/ws` };
}

/** Runs a workload on a server just started, and stops the server whatever happens. */
async function measure<R>(
  server: Promise<Server>,
  run: (server: Server) => Promise<R>,
): Promise<R> {
  const started = await server;
  try {
    return await run(started);
  } finally {
    await started.child.stop();
  }
}

async function startBaseline(): Promise<Server> {
  const port = freePort();
  const child = spawnChild({
    name: `baseline:${port}`,
    cmd: ["bun", "bench/baseline-server.ts"],
    nofile: 65536,
    env: { PORT: String(port) },
  });
  const http = `http://127.0.0.1:${port}`;
  await waitForHttp(`${http}/health`, child);
  return { child, port, http, ws: `ws://127.0.0.1:${port}/ws` };
}

async function startDatabase(): Promise<{ uri: string; child?: Child; note: string }> {
  const external = flags["mongodb-uri"] ?? process.env.MONGODB_URI;
  const dbName = `bench_${Date.now().toString(36)}`;
  if (external) {
    const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(external);
    if (!match) throw new Error("MONGODB_URI is not a mongodb:// URI");
    return { uri: `${match[1]}/${dbName}${match[2] ?? ""}`, note: "external MongoDB" };
  }
  const port = freePort();
  const child = spawnChild({
    name: `db:${port}`,
    cmd: ["bun", ...profileFlags("db"), "src/db/embedded/cli.ts", "--port", String(port)],
  });
  await waitForPort(port, child);
  return {
    uri: `mongodb://127.0.0.1:${port}/${dbName}`,
    child,
    note: "embedded store (bun run db), its own process, in memory",
  };
}

async function measureCpu<T>(pids: number[], work: () => Promise<T>) {
  const before = await Promise.all(pids.map(cpuSeconds));
  const start = performance.now();
  const result = await work();
  const seconds = (performance.now() - start) / 1000;
  const after = await Promise.all(pids.map(cpuSeconds));
  /** Cores busy on average during `work`, per process. */
  const cores = after.map((a, i) => round((a - before[i]!) / seconds, 2));
  return { result, cores };
}

/** Milliseconds since the epoch, sub-millisecond, on the clock every process shares. */
const epochNow = () => performance.timeOrigin + performance.now();
const sleepUntil = (epochMs: number) => Bun.sleep(Math.max(0, epochMs - epochNow()));

/**
 * CPU seconds (user + system) each group of processes used between `startAt` (epoch ms) and
 * `ms` later: the generators open their sending window at that same instant.
 */
async function cpuOverWindow(groups: Record<string, number[]>, startAt: number, ms: number) {
  const total = (pids: number[]) =>
    Promise.all(pids.map(cpuSeconds)).then((v) => v.reduce((a, b) => a + b, 0));
  const names = Object.keys(groups);
  await sleepUntil(startAt);
  const before = await Promise.all(names.map((n) => total(groups[n]!)));
  await sleepUntil(startAt + ms);
  const after = await Promise.all(names.map((n) => total(groups[n]!)));
  return Object.fromEntries(names.map((n, i) => [n, round(after[i]! - before[i]!, 3)]));
}

const tokenUrl = (server: Server, token: string) => `${server.ws}?token=${token}`;

// ---- chat: 1,000 users in 500 one-to-one chats ----

interface StepFigures {
  ratePerUser: number;
  targetPerSecond: number;
  sent: number;
  skipped: number;
  /** `message-sent` acknowledgements that arrived within the sending window. */
  stored: number;
  storedPerSecond: number;
  p50: number;
  p99: number;
  ackP50: number;
  ackP99: number;
  /** Latency samples behind the percentiles (send→receive, send→ack). */
  samples: number;
  ackSamples: number;
  missing: number;
  errors: Record<string, number>;
  /** Worst lateness of a generator's first tick after the window opened, ms. */
  startLagMs: number;
  /** CPU seconds used during the sending window, per group of processes (10 ms resolution). */
  cpuSeconds?: Record<string, number>;
  /** Cores busy on average during the sending window, per group of processes. */
  cpu?: Record<string, number>;
  /**
   * CPU ms per message stored in the window: app (all instances), db (null with an external
   * database), generators, and server = app + db.
   */
  cpuMsPerMessage?: { app: number; db: number | null; generators: number; server: number };
}

/** A fixed-rate step: the step's figures and what it was asked for. */
interface FixedStep extends StepFigures {
  rate: FixedRate;
  label: string;
}

async function runStep(
  gens: Generator[],
  users: number,
  ratePerUser: number,
  ms: number,
  startAt?: number,
): Promise<StepFigures> {
  const replies = await Promise.all(
    gens.map((g, gi) =>
      g.request(
        {
          cmd: "chat-step",
          ratePerUser,
          ms,
          maxInFlight: 2,
          drainMs: 30_000,
          startAt,
          phase: gi / gens.length,
        },
        "step",
      ),
    ),
  );
  const latencies = replies.flatMap((r) => r.latencies);
  const ackLatencies = replies.flatMap((r) => r.ackLatencies);
  const errors: Record<string, number> = {};
  for (const r of replies) {
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const sum = (f: (r: (typeof replies)[number]) => number) => replies.reduce((a, r) => a + f(r), 0);
  const stored = sum((r) => r.ackedInWindow);
  return {
    ratePerUser,
    targetPerSecond: round(ratePerUser * users, 0),
    sent: sum((r) => r.sent),
    skipped: sum((r) => r.skipped),
    stored,
    storedPerSecond: round(stored / (ms / 1000), 0),
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    ackP50: round(percentile(ackLatencies, 50)),
    ackP99: round(percentile(ackLatencies, 99)),
    samples: latencies.length,
    ackSamples: ackLatencies.length,
    missing: sum((r) => r.missing),
    errors,
    startLagMs: round(Math.max(...replies.map((r) => r.startLagMs ?? Number.NaN)), 1),
  };
}

/** Most sends per user per second the generator offers: the contract's limit is 10/s. */
const MAX_RATE_PER_USER = 10;

/**
 * `GET /metrics` on each server once a second, if it answers 200 (with the bench's token; it is
 * open when the app has none). Until the endpoint exists it 404s and nothing more is asked.
 */
async function scrapeMetrics(servers: Server[]) {
  const headers = { authorization: `Bearer ${METRICS_TOKEN}` };
  const get = async (server: Server) => {
    const t = performance.now();
    const response = await fetch(`${server.http}/metrics`, { headers });
    const bytes = (await response.arrayBuffer()).byteLength;
    return { status: response.status, ms: performance.now() - t, bytes };
  };
  if (flags["no-metrics"]) {
    return {
      stop: async () => ({ available: false as const, status: 0, skipped: "--no-metrics" }),
    };
  }
  const probes = await Promise.all(servers.map((s) => get(s).catch(() => undefined)));
  const status = probes[0]?.status ?? 0;
  const live = probes.every((p) => p?.status === 200);
  const durations: number[] = [];
  const failures: Record<string, number> = {};
  let bytes = probes[0]?.bytes ?? 0;
  let stopped = !live;
  const loop = (async () => {
    while (!stopped) {
      const next = performance.now() + 1000;
      const results = await Promise.all(servers.map((s) => get(s).catch(() => undefined)));
      for (const r of results) {
        if (r?.status === 200) {
          durations.push(r.ms);
          bytes = r.bytes;
        } else {
          const key = String(r?.status ?? "error");
          failures[key] = (failures[key] ?? 0) + 1;
        }
      }
      while (!stopped && performance.now() < next) await Bun.sleep(50);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      if (!live) return { available: false as const, status };
      return {
        available: true as const,
        scrapes: durations.length,
        medianMs: round(percentile(durations, 50), 3),
        p99Ms: round(percentile(durations, 99), 3),
        maxMs: round(Math.max(...durations), 3),
        bytes,
        failures,
      };
    },
  };
}

async function chatWorkload(
  servers: Server[],
  seeded: Seeded,
  db: Child | undefined,
  fixedRates: FixedRate[] = opts.fixed,
) {
  const chats = seeded.chats.slice(0, opts.users / 2);
  const users = chats.length * 2;
  const pairs: ChatPair[] = chats.map((chat, i) => ({
    chatId: chat.id,
    a: { id: chat.a.id, url: tokenUrl(servers[i % servers.length]!, chat.a.token) },
    // With two instances, the two sides of every chat sit on different instances.
    b: { id: chat.b.id, url: tokenUrl(servers[(i + 1) % servers.length]!, chat.b.token) },
  }));
  const name = servers.length > 1 ? `chat ×${servers.length}` : "chat";
  const gens = generators(2, "chat-gen");
  const scraper = await scrapeMetrics(servers);
  try {
    const opened = await Promise.all(
      gens.map((g, gi) =>
        g.request(
          { cmd: "chat-open", pairs: pairs.filter((_, i) => i % gens.length === gi) },
          "ready",
        ),
      ),
    );
    const failed = opened.reduce((a, r) => a + r.failed, 0);
    if (failed > 0)
      throw new Error(
        `chat: ${failed} sockets failed to open: ${opened.find((r) => r.firstError)?.firstError}`,
      );
    log(`${name}: ${users} users connected; warming up`);
    await runStep(gens, users, 1, 2000);
    const pids = {
      app: servers.map((s) => s.child.pid),
      db: db ? [db.pid] : [],
      generators: gens.map((g) => g.child.pid),
    };
    const measured = async (ratePerUser: number, ms: number) => {
      const startAt = epochNow() + 100;
      const [result, cpu] = await Promise.all([
        runStep(gens, users, ratePerUser, ms, startAt),
        cpuOverWindow(pids, startAt, ms),
      ]);
      result.cpuSeconds = cpu;
      result.cpu = Object.fromEntries(
        Object.entries(cpu).map(([k, v]) => [k, round(v / (ms / 1000), 2)]),
      );
      const perMessage = (seconds: number) =>
        result.stored > 0 ? round((seconds * 1000) / result.stored, 3) : Number.NaN;
      result.cpuMsPerMessage = {
        app: perMessage(cpu.app!),
        db: db ? perMessage(cpu.db!) : null,
        generators: perMessage(cpu.generators!),
        server: perMessage(cpu.app! + cpu.db!),
      };
      return result;
    };
    const describe = (r: StepFigures) =>
      `recv p50 ${fmt.ms(r.p50)} p99 ${fmt.ms(r.p99)}, ack p50 ${fmt.ms(r.ackP50)} p99 ${fmt.ms(r.ackP99)}, ` +
      `CPU ms/msg app ${fmt.cpu(r.cpuMsPerMessage?.app)} db ${fmt.cpu(r.cpuMsPerMessage?.db)} ` +
      `gen ${fmt.cpu(r.cpuMsPerMessage?.generators)}, cores busy ${JSON.stringify(r.cpu)}`;
    const steps: StepFigures[] = [];
    for (const ratePerUser of opts.rates) {
      const result = await measured(ratePerUser, opts.stepMs);
      steps.push(result);
      log(
        `${name}: ${fmt.int(result.targetPerSecond)}/s offered → ${fmt.int(result.storedPerSecond)}/s stored, ${describe(result)}`,
      );
      if (result.storedPerSecond < 0.9 * result.targetPerSecond) break;
    }
    const best = steps.reduce((a, s) => (s.storedPerSecond > a.storedPerSecond ? s : a), steps[0]!);
    const saturated = steps.some((s) => s.storedPerSecond < 0.9 * s.targetPerSecond);
    // What the processes use with the sockets open and nothing sent (timers, pings, scrapes): the
    // part of CPU per message at low rates that does not depend on the rate.
    const idleMs = fixedRates.length > 0 ? opts.stepMs : 0;
    const idleSeconds = idleMs > 0 ? await cpuOverWindow(pids, epochNow() + 50, idleMs) : {};
    const idle = {
      ms: idleMs,
      cpuSeconds: idleSeconds,
      cores: Object.fromEntries(
        Object.entries(idleSeconds).map(([k, v]) => [k, round(v / (idleMs / 1000), 3)]),
      ),
    };
    if (idleMs > 0)
      log(`${name}: idle for ${idleMs / 1000} s, cores busy ${JSON.stringify(idle.cores)}`);
    // Fixed rates, each for --duration, after every earlier send has been acknowledged.
    const fixed: FixedStep[] = [];
    const skippedFixed: { rate: FixedRate; reason: string }[] = [];
    for (const rate of fixedRates) {
      const perSecond = rate === "half" ? best.storedPerSecond / 2 : rate;
      const ratePerUser = perSecond / users;
      if (!(ratePerUser > 0) || ratePerUser >= MAX_RATE_PER_USER) {
        const reason = `${fmt.int(perSecond)}/s is ${round(ratePerUser, 2)} per user per second (the limit is ${MAX_RATE_PER_USER})`;
        skippedFixed.push({ rate, reason });
        log(`${name}: fixed rate ${rate} skipped: ${reason}`);
        continue;
      }
      const result = await measured(ratePerUser, opts.durationMs);
      const label =
        rate === "half"
          ? `half (${fmt.int(result.targetPerSecond)}/s)`
          : `${fmt.int(result.targetPerSecond)}/s`;
      fixed.push({ rate, label, ...result });
      log(
        `${name}: fixed ${label} → ${fmt.int(result.storedPerSecond)}/s stored, ${describe(result)}`,
      );
    }
    const metrics = await scraper.stop();
    if (metrics.available)
      log(
        `${name}: GET /metrics scraped ${metrics.scrapes} times, median ${fmt.ms(metrics.medianMs)}, ` +
          `max ${fmt.ms(metrics.maxMs)}, ${fmt.int(metrics.bytes)} B`,
      );
    return {
      users,
      chats: chats.length,
      instances: servers.length,
      saturationPerSecond: best.storedPerSecond,
      /** False when even the highest step kept up: the figure is a floor, capped by the per-user limit. */
      saturated,
      steps,
      /** Nothing sent, sockets open, for `--step` seconds before the fixed rates. */
      idle,
      fixed,
      skippedFixed,
      /** The fixed step at half the saturation rate, when it ran (also in `fixed`). */
      half: fixed.find((f) => f.rate === "half"),
      /** `GET /metrics` scraped once a second through the workload, when it answers 200. */
      metrics,
    };
  } finally {
    await scraper.stop();
    await closeGenerators(gens);
  }
}

type ChatResult = Awaited<ReturnType<typeof chatWorkload>>;

// ---- broadcast: one chat topic, many subscribers receiving typing ----

async function broadcastRun(server: Server, seeded: Seeded, baseline: boolean) {
  const chat = seeded.chats[0]!;
  const url = (user: { id: string; token: string }) =>
    baseline ? `${server.ws}?u=${user.id}` : tokenUrl(server, user.token);
  const receivers = opts.subscribers - 1;
  // The typist A, one probe tab of B (paces the typist), the other tabs of B in two processes.
  const typistGen = new Generator("typist");
  const gens = generators(2, "receivers");
  try {
    const tabs = Array.from({ length: receivers - 1 }, () => url(chat.b));
    const opened = await Promise.all(
      gens.map((g, gi) =>
        g.request(
          {
            cmd: "receivers-open",
            urls: tabs.filter((_, i) => i % gens.length === gi),
            chatId: chat.id,
          },
          "ready",
        ),
      ),
    );
    const failed = opened.reduce((a, r) => a + r.failed, 0);
    if (failed > 0)
      throw new Error(
        `broadcast: ${failed} receivers failed: ${opened.find((r) => r.firstError)?.firstError}`,
      );
    await typistGen.request(
      { cmd: "typist-open", typistUrl: url(chat.a), probeUrl: url(chat.b), chatId: chat.id },
      "ready",
    );
    const all = [typistGen, ...gens];
    await typistGen.request({ cmd: "type", ms: 1000, window: opts.window }, "typed");
    await Bun.sleep(300);
    await Promise.all(all.map((g) => g.request({ cmd: "count-start" }, "count")));
    const { result: typed, cores } = await measureCpu([server.child.pid], () =>
      typistGen.request({ cmd: "type", ms: opts.durationMs, window: opts.window }, "typed"),
    );
    await Bun.sleep(300);
    const counts = await Promise.all(all.map((g) => g.request({ cmd: "count-stop" }, "count")));
    const frames = counts.reduce((a, c) => a + c.frames, 0);
    const closed = counts.reduce((a, c) => a + c.closed, 0);
    return {
      subscribers: receivers + 1,
      receivers,
      typingSent: typed.sent,
      deliveries: frames,
      deliveriesPerSecond: round(frames / (typed.ms / 1000), 0),
      /** Deliveries over what a complete fan-out of every typing frame would be. */
      completeness: round(frames / (typed.sent * receivers), 4),
      receiversClosed: closed,
      serverCores: cores[0]!,
    };
  } finally {
    await closeGenerators([typistGen, ...gens]);
  }
}

// ---- connections: idle authenticated sockets, resident memory per socket ----

async function connectionsRun(server: Server, seeded: Seeded, baseline: boolean) {
  const urls = Array.from({ length: opts.sockets }, (_, i) => {
    const user = seeded.users[i % seeded.users.length]!;
    return baseline ? `${server.ws}?u=${user.id}` : tokenUrl(server, user.token);
  });
  // ~2,500 sockets per process keeps each well under the open-file limit.
  const gens = generators(Math.max(1, Math.ceil(opts.sockets / 2500)), "idle");
  try {
    await Bun.sleep(1000);
    const before = await rssBytes(server.child.pid);
    const start = performance.now();
    const opened = await Promise.all(
      gens.map((g, gi) =>
        g.request(
          {
            cmd: "idle-open",
            urls: urls.filter((_, i) => i % gens.length === gi),
            concurrency: 50,
          },
          "ready",
        ),
      ),
    );
    const openMs = performance.now() - start;
    const count = opened.reduce((a, r) => a + r.opened, 0);
    const failed = opened.reduce((a, r) => a + r.failed, 0);
    // Let the server settle (timers, lazily freed buffers) before reading its memory.
    await Bun.sleep(3000);
    const after = await rssBytes(server.child.pid);
    const checks = await Promise.all(gens.map((g) => g.request({ cmd: "idle-check" }, "idle")));
    const stillOpen = checks.reduce((a, c) => a + c.open, 0);
    return {
      sockets: count,
      failed,
      firstError: opened.find((r) => r.firstError)?.firstError,
      stillOpenAfterSettle: stillOpen,
      openPerSecond: round(count / (openMs / 1000), 0),
      rssBefore: before,
      rssAfter: after,
      bytesPerSocket: round((after - before) / Math.max(1, count), 0),
    };
  } finally {
    await closeGenerators(gens);
  }
}

// ---- REST ----

async function restRun(server: Server, seeded: Seeded, kind: "list-chats" | "send-message") {
  const items = seeded.chats.flatMap((chat) => [
    { token: chat.a.token, chatId: chat.id },
    { token: chat.b.token, chatId: chat.id },
  ]);
  const gens = generators(2, "rest");
  try {
    const per = Math.max(1, Math.floor(opts.concurrency / gens.length));
    const { result: replies, cores } = await measureCpu([server.child.pid], () =>
      Promise.all(
        gens.map((g, gi) =>
          g.request(
            {
              cmd: "rest",
              kind,
              base: server.http,
              items: items.filter((_, i) => i % gens.length === gi),
              concurrency: per,
              ms: opts.durationMs,
            },
            "rest",
          ),
        ),
      ),
    );
    const latencies = replies.flatMap((r) => r.latencies);
    const statuses: Record<string, number> = {};
    for (const r of replies) {
      for (const [s, n] of Object.entries(r.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
    }
    const ok = Object.entries(statuses)
      .filter(([s]) => s.startsWith("2"))
      .reduce((a, [, n]) => a + n, 0);
    const ms = Math.max(...replies.map((r) => r.ms));
    return {
      kind,
      connections: per * gens.length,
      requests: latencies.length,
      okPerSecond: round(ok / (ms / 1000), 0),
      statuses,
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      serverCores: cores[0]!,
    };
  } finally {
    await closeGenerators(gens);
  }
}

// ---- client: the SDK's bundle, minified and gzipped ----

/** Without Eden (the figure with a target) and with it, for reference. */
async function clientRun() {
  const withoutEden = await measureClientBundle(true);
  const withEden = await measureClientBundle(false);
  return { entry: "src/client/index.ts", target: "browser", withoutEden, withEden };
}

/** Under 10 KB gzip without Eden (issue 13). */
const CLIENT_GZIP_TARGET = 10_000;

function clientRow(figures: BundleFigures): Row {
  const eden = figures.edenExternal ? "without Eden" : "with Eden";
  return {
    workload: "client",
    figure: `SDK bundle, minified + gzip, ${eden}`,
    app: `${fmt.int(figures.gzipBytes)} B (${fmt.int(figures.minifiedBytes)} B min)`,
    baseline: "",
    ratio: "",
    target: figures.edenExternal ? "< 10 KB" : "",
    met: figures.edenExternal ? (figures.gzipBytes < CLIENT_GZIP_TARGET ? "yes" : "no") : "",
  };
}

// ---- rows of the table ----

/** Issue 18's targets. */
const TARGETS = {
  /** Stored msg/s at saturation: not below the figure before issue 18. */
  saturationPerSecond: 8900,
  p99At1000Ms: 10,
  p99AtHalfMs: 25,
  /** Judged on the app process (see BENCHMARKS.md, Method). */
  appCpuMsPerMessageAt1000: 0.2,
  /** RSS per idle socket over the bare baseline's, at most. */
  socketMemoryRatio: 2,
  /** Stored msg/s with two instances over one, at least. */
  twoOverOne: 0.7,
};

const emptyRow: Row = {
  workload: "",
  figure: "",
  app: "",
  baseline: "",
  ratio: "",
  target: "",
  met: "",
};

/** Saturation, "≥" when no step saturated (a floor set by the highest step). */
const floorOr = (chat: ChatResult) =>
  `${chat.saturated ? "" : "≥ "}${fmt.int(chat.saturationPerSecond)}`;

/** yes/no, "?" when the figure is a floor below the target (the real value is not known). */
function atLeast(value: number, isFloor: boolean, target: number): string {
  if (value >= target) return "yes";
  return isFloor ? "?" : "no";
}

const below = (value: number, limit: number) =>
  Number.isFinite(value) ? (value < limit ? "yes" : "no") : "n/a";

/** Saturation, latency at each fixed rate and (with targets) server CPU per message. */
function chatRows(workload: string, chat: ChatResult, targets: boolean): Row[] {
  const rows: Row[] = [];
  if (targets) {
    rows.push({
      ...emptyRow,
      workload,
      figure: `stored msg/s at saturation (${chat.users} users)`,
      app: floorOr(chat),
      target: `≥ ${fmt.int(TARGETS.saturationPerSecond)}`,
      met: atLeast(chat.saturationPerSecond, !chat.saturated, TARGETS.saturationPerSecond),
    });
  }
  for (const step of chat.fixed) {
    const limit = !targets
      ? undefined
      : step.rate === 1000
        ? TARGETS.p99At1000Ms
        : step.rate === "half"
          ? TARGETS.p99AtHalfMs
          : undefined;
    rows.push({
      ...emptyRow,
      workload,
      figure: `send→receive p50 / p99 at ${step.label}`,
      app: `${fmt.ms(step.p50)} / ${fmt.ms(step.p99)}`,
      target: limit === undefined ? "" : `p99 < ${limit} ms`,
      met: limit === undefined ? "" : below(step.p99, limit),
    });
  }
  if (targets) {
    for (const step of chat.fixed) {
      const cpu = step.cpuMsPerMessage;
      const judged = step.rate === 1000;
      rows.push({
        ...emptyRow,
        workload,
        figure: `CPU ms per stored message at ${step.label}: app / db / app+db`,
        app: `${fmt.cpu(cpu?.app)} / ${fmt.cpu(cpu?.db)} / ${fmt.cpu(cpu?.server)}`,
        target: judged ? `app ≤ ${TARGETS.appCpuMsPerMessageAt1000}` : "",
        met: judged
          ? Number.isFinite(cpu?.app)
            ? cpu!.app <= TARGETS.appCpuMsPerMessageAt1000
              ? "yes"
              : "no"
            : "n/a"
          : "",
      });
    }
  }
  if (chat.metrics.available) {
    rows.push({
      ...emptyRow,
      workload,
      figure: `GET /metrics scrape, median (${chat.metrics.scrapes} scrapes, 1/s)`,
      app: `${fmt.ms(chat.metrics.medianMs)} (max ${fmt.ms(chat.metrics.maxMs)})`,
    });
  }
  return rows;
}

/**
 * Two instances over one. A floor ("≥", no step saturated) on top makes the ratio a floor; one
 * underneath makes it a ceiling; with both, it says nothing.
 */
function scaleOut(two: ChatResult, one: ChatResult) {
  const value = two.saturationPerSecond / one.saturationPerSecond;
  const pct = fmt.ratio(value);
  const ok = value >= TARGETS.twoOverOne;
  if (two.saturated && one.saturated)
    return { value: round(value, 3), bound: "exact", display: pct, met: ok ? "yes" : "no" };
  if (!two.saturated && one.saturated)
    return {
      value: round(value, 3),
      bound: "at least",
      display: `≥ ${pct}`,
      met: ok ? "yes" : "?",
    };
  if (two.saturated && !one.saturated)
    return { value: round(value, 3), bound: "at most", display: `≤ ${pct}`, met: ok ? "?" : "no" };
  return { value: round(value, 3), bound: "unknown", display: `${pct} (floors)`, met: "?" };
}

/** The fixed-rate steps of one chat workload, every figure of each. */
function formatFixedTable(steps: FixedStep[]): string {
  return formatGrid(
    [
      "rate",
      "stored/s",
      "send→receive p50 / p99",
      "send→ack p50 / p99",
      "CPU ms/msg: app / db / app+db / generators",
      "samples",
    ],
    steps.map((s) => [
      s.label,
      fmt.int(s.storedPerSecond),
      `${fmt.ms(s.p50)} / ${fmt.ms(s.p99)}`,
      `${fmt.ms(s.ackP50)} / ${fmt.ms(s.ackP99)}`,
      [
        s.cpuMsPerMessage?.app,
        s.cpuMsPerMessage?.db,
        s.cpuMsPerMessage?.server,
        s.cpuMsPerMessage?.generators,
      ]
        .map(fmt.cpu)
        .join(" / "),
      fmt.int(s.samples),
    ]),
  );
}

// ---- main ----

async function machine() {
  const text = async (cmd: string[]) => {
    try {
      const p = Bun.spawn({ cmd, stdout: "pipe", stderr: "ignore" });
      return (await new Response(p.stdout).text()).trim();
    } catch {
      return "";
    }
  };
  return {
    cores: Number(await text(["nproc"])) || cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    free: await text(["free", "-m"]),
    bun: Bun.version,
    kernel: await text(["uname", "-r"]),
    openFileLimit: await text(["bash", "-c", "ulimit -n"]),
  };
}

async function main() {
  const startedAt = new Date();
  const results: Record<string, unknown> = {};
  const rows: Row[] = [];
  const fixedTables: { name: string; chat: ChatResult }[] = [];
  const host = await machine();
  log(
    `bench: ${host.cores} cores, ${host.memoryGiB} GiB, bun ${host.bun}; workloads: ${[...only].join(", ")}`,
  );

  // First, since it takes a second and a bundle that touches Node fails the whole run.
  if (only.has("client")) {
    const client = await clientRun();
    results.client = client;
    for (const figures of [client.withoutEden, client.withEden]) {
      log(
        `client: ${figures.edenExternal ? "without" : "with"} Eden, ${fmt.int(figures.gzipBytes)} B gzip, ` +
          `${fmt.int(figures.minifiedBytes)} B minified, ${figures.inputs} source files; no Node built-ins`,
      );
      rows.push(clientRow(figures));
    }
  }

  // Only the server workloads need a database; with none of them, nothing is started or seeded.
  const needsServer = SERVER_WORKLOADS.some(
    (w) => only.has(w) && !(w === "redis" && flags["no-redis"]),
  );
  const database = needsServer
    ? await startDatabase()
    : { uri: "", child: undefined, note: "none (no workload needs one)" };
  if (needsServer) log(`database: ${database.note}`);
  const seeded = needsServer ? await seedDatabase(database.uri) : { users: [], chats: [] };

  let oneInstance: ChatResult | undefined;
  if (only.has("chat")) {
    const app = await startApp(database.uri);
    try {
      const chat = await chatWorkload([app], seeded, database.child);
      results.chat = chat;
      oneInstance = chat;
      rows.push(...chatRows("chat", chat, true));
      fixedTables.push({ name: "chat", chat });
    } finally {
      await app.child.stop();
    }
  }

  if (only.has("broadcast")) {
    // Typing is limited to 5/s per user by default; the bench measures fan-out, not the limiter.
    const appRun = await measure(
      startApp(database.uri, { RATE_LIMIT_MULTIPLIER: "10000" }),
      (app) => broadcastRun(app, seeded, false),
    );
    const baseRun = await measure(startBaseline(), (base) => broadcastRun(base, seeded, true));
    const ratio = appRun.deliveriesPerSecond / baseRun.deliveriesPerSecond;
    results.broadcast = { app: appRun, baseline: baseRun, ratio: round(ratio, 3) };
    log(
      `broadcast: app ${fmt.int(appRun.deliveriesPerSecond)}/s, baseline ${fmt.int(baseRun.deliveriesPerSecond)}/s`,
    );
    rows.push({
      workload: "broadcast",
      figure: `typing deliveries/s (${appRun.subscribers} sockets, 1 topic)`,
      app: fmt.int(appRun.deliveriesPerSecond),
      baseline: fmt.int(baseRun.deliveriesPerSecond),
      ratio: fmt.ratio(ratio),
      target: "≥ 70%",
      met: ratio >= 0.7 ? "yes" : "no",
    });
  }

  if (only.has("connections")) {
    const appRun = await measure(startApp(database.uri), (app) =>
      connectionsRun(app, seeded, false),
    );
    const baseRun = await measure(startBaseline(), (base) => connectionsRun(base, seeded, true));
    const ratio = appRun.bytesPerSocket / baseRun.bytesPerSocket;
    results.connections = { app: appRun, baseline: baseRun, ratio: round(ratio, 3) };
    log(
      `connections: app ${fmt.kib(appRun.bytesPerSocket)}/socket, baseline ${fmt.kib(baseRun.bytesPerSocket)}/socket`,
    );
    rows.push({
      workload: "connections",
      figure: `RSS per idle socket (${fmt.int(appRun.sockets)} sockets)`,
      app: fmt.kib(appRun.bytesPerSocket),
      baseline: fmt.kib(baseRun.bytesPerSocket),
      ratio: fmt.times(ratio),
      target: `≤ ${TARGETS.socketMemoryRatio}×`,
      met: ratio <= TARGETS.socketMemoryRatio && appRun.failed === 0 ? "yes" : "no",
    });
  }

  if (only.has("rest")) {
    const app = await startApp(database.uri);
    try {
      const list = await restRun(app, seeded, "list-chats");
      const send = await restRun(app, seeded, "send-message");
      results.rest = { list, send };
      for (const r of [list, send]) {
        log(
          `rest ${r.kind}: ${fmt.int(r.okPerSecond)}/s p99 ${fmt.ms(r.p99)} ${JSON.stringify(r.statuses)}`,
        );
        rows.push({
          workload: "rest",
          figure: `${r.kind === "list-chats" ? "GET /api/chats" : "POST /api/messages/chat/:id"} (${r.connections} conns)`,
          app: `${fmt.int(r.okPerSecond)} req/s, p99 ${fmt.ms(r.p99)}`,
          baseline: "",
          ratio: "",
          target: "",
          met: "",
        });
      }
    } finally {
      await app.child.stop();
    }
  }

  if (only.has("redis")) {
    const redis = await chooseRedis();
    const skip = (reason: string) => {
      results.redis = { skipped: reason };
      rows.push({ ...emptyRow, workload: "chat ×2 (Redis)", figure: `skipped: ${reason}` });
      log(`redis: skipped: ${reason}`);
    };
    if ("skipped" in redis) {
      skip(redis.skipped);
    } else {
      log(`redis: ${redis.source} (${redis.url})`);
      // The one-instance figure is the chat workload's; with `--only redis`, measure it here.
      if (!oneInstance) {
        log("redis: no chat workload in this run; measuring one instance first (saturation only)");
        oneInstance = await measure(startApp(database.uri), (app) =>
          chatWorkload([app], seeded, database.child, []),
        );
      }
      const apps = [
        await startApp(database.uri, { REDIS_URL: redis.url }),
        await startApp(database.uri, { REDIS_URL: redis.url }),
      ];
      try {
        const crossing = await redisWorks(apps, seeded);
        if (!crossing) {
          skip("messages do not cross instances: the Redis broker is not in place");
        } else {
          const two = await chatWorkload(apps, seeded, database.child);
          const ratio = scaleOut(two, oneInstance);
          results.redis = {
            redis: redis.source,
            ...two,
            // The chat workload's figures are under `chat`; measured here, all of them are kept.
            oneInstance: results.chat
              ? {
                  from: "chat workload",
                  saturationPerSecond: oneInstance.saturationPerSecond,
                  saturated: oneInstance.saturated,
                }
              : { from: "measured for this workload", ...oneInstance },
            /** Stored msg/s with two instances over one; `bound` says which way it is uncertain. */
            twoOverOne: ratio,
          };
          log(
            `redis: two instances ${floorOr(two)} msg/s, one ${floorOr(oneInstance)}: ` +
              `two/one ${ratio.display}`,
          );
          rows.push({
            workload: "chat ×2 (Redis)",
            figure: "stored msg/s: app = 2 instances, baseline = 1",
            app: floorOr(two),
            baseline: floorOr(oneInstance),
            ratio: ratio.display,
            target: "≥ 70%",
            met: ratio.met,
          });
          rows.push(...chatRows("chat ×2 (Redis)", two, false));
          fixedTables.push({ name: "chat ×2 (Redis)", chat: two });
        }
      } finally {
        await Promise.all(apps.map((a) => a.child.stop()));
      }
    }
  }

  await database.child?.stop();
  for (const { name, chat } of fixedTables.filter((t) => t.chat.fixed.length > 0)) {
    console.log(
      `\n${name}, fixed-rate steps (${fmt.int(chat.users)} users, ${opts.durationMs / 1000} s each; ` +
        `idle: app ${chat.idle.cores.app} cores, db ${chat.idle.cores.db}):\n`,
    );
    console.log(formatFixedTable(chat.fixed));
  }
  const table = formatTable(rows);
  console.log(`\n${table}\n`);
  const report = {
    startedAt: startedAt.toISOString(),
    seconds: round((Date.now() - startedAt.getTime()) / 1000, 1),
    machine: host,
    database: database.note,
    options: {
      ...opts,
      redis: flags["no-redis"] ? "off" : "REDIS_URL, else a private redis-server",
    },
    results,
    table: rows,
  };
  const out = flags.out ?? `bench/results/${startedAt.toISOString().replace(/[:.]/g, "-")}.json`;
  await Bun.write(out, `${JSON.stringify(report, null, 2)}\n`);
  log(`written ${out}`);
  if (flags.profile) log(`CPU profiles in ${PROFILE_DIR}`);
}

/** Users and chats for every server workload, straight into the database. */
async function seedDatabase(uri: string): Promise<Seeded> {
  const seedStart = performance.now();
  // The server builds the indexes; seed after the first app start so the unique ones exist.
  const first = await startApp(uri);
  const seeded = await seed(uri, JWT_SECRET, opts.users);
  await first.child.stop();
  log(
    `seeded ${seeded.users.length} users and ${seeded.chats.length} chats in ${fmt.ms(performance.now() - seedStart)}`,
  );
  return seeded;
}

/** REDIS_URL, else a private redis-server when one is installed; none with `--no-redis`. */
async function chooseRedis(): Promise<{ url: string; source: string } | { skipped: string }> {
  if (flags["no-redis"]) return { skipped: "--no-redis" };
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, source: "REDIS_URL" };
  const url = await startRedis();
  if (url) return { url, source: "private redis-server" };
  return { skipped: "REDIS_URL is not set and redis-server is not installed" };
}

/** A private, throwaway redis-server on a free port (when none is given and one is installed). */
async function startRedis(): Promise<string | undefined> {
  if (!Bun.which("redis-server")) return undefined;
  const port = freePort();
  const child = spawnChild({
    name: `redis:${port}`,
    cmd: [
      "redis-server",
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
  });
  await waitForPort(port, child);
  return `redis://127.0.0.1:${port}`;
}

/** One message each way between two instances: does the fan-out cross them? */
async function redisWorks(apps: Server[], seeded: Seeded): Promise<boolean> {
  const chat = seeded.chats[0]!;
  const gen = new Generator("redis-probe");
  try {
    await gen.request(
      {
        cmd: "chat-open",
        pairs: [
          {
            chatId: chat.id,
            a: { id: chat.a.id, url: tokenUrl(apps[0]!, chat.a.token) },
            b: { id: chat.b.id, url: tokenUrl(apps[1]!, chat.b.token) },
          },
        ],
      },
      "ready",
    );
    const step = await gen.request(
      { cmd: "chat-step", ratePerUser: 2, ms: 1000, maxInFlight: 4, drainMs: 2000 },
      "step",
    );
    return step.acked > 0 && step.missing === 0 && step.latencies.length > 0;
  } finally {
    await closeGenerators([gen]);
  }
}

try {
  await main();
  await stopAll();
  process.exit(0);
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? error}`);
  await stopAll();
  process.exit(1);
}
