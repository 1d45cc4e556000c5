/**
 * `bun run bench [--only client,chat,broadcast,connections,rest,redis] [--users 1000]
 * [--sockets 10000] [--subscribers 1000] [--duration 6] [--step 3] [--rates 1,2,...,9]
 * [--concurrency 64] [--window 32] [--mongodb-uri URI] [--start-redis] [--profile] [--out FILE]`
 *
 * Starts the database, the app (`bun index.ts`) and the baseline (a bare Bun.serve) as separate
 * processes, drives them from load-generator processes with real WebSocket and HTTP clients on
 * 127.0.0.1, prints a table and writes bench/results/<timestamp>.json. Method: BENCHMARKS.md.
 * `client` needs none of that: it bundles the client SDK for the browser and measures it.
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
import { fmt, formatTable, percentile, type Row, round } from "./lib/stats.ts";

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
    concurrency: { type: "string", default: "64" },
    window: { type: "string", default: "32" },
    "mongodb-uri": { type: "string" },
    profile: { type: "boolean", default: false },
    "start-redis": { type: "boolean", default: false },
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
  concurrency: Math.floor(positive("concurrency", flags.concurrency)),
  window: Math.floor(positive("window", flags.window)),
};

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

/** Cores each group of processes kept busy, on average, over the next `ms`. */
async function coresBusy(groups: Record<string, number[]>, ms: number) {
  const total = (pids: number[]) =>
    Promise.all(pids.map(cpuSeconds)).then((v) => v.reduce((a, b) => a + b, 0));
  const names = Object.keys(groups);
  const before = await Promise.all(names.map((n) => total(groups[n]!)));
  await Bun.sleep(ms);
  const after = await Promise.all(names.map((n) => total(groups[n]!)));
  return Object.fromEntries(
    names.map((n, i) => [n, round((after[i]! - before[i]!) / (ms / 1000), 2)]),
  );
}

const tokenUrl = (server: Server, token: string) => `${server.ws}?token=${token}`;

// ---- chat: 1,000 users in 500 one-to-one chats ----

interface StepFigures {
  ratePerUser: number;
  targetPerSecond: number;
  sent: number;
  skipped: number;
  storedPerSecond: number;
  p50: number;
  p99: number;
  ackP50: number;
  ackP99: number;
  missing: number;
  errors: Record<string, number>;
  /** Cores busy on average during the sending window, per group of processes. */
  cpu?: Record<string, number>;
}

async function runStep(
  gens: Generator[],
  users: number,
  ratePerUser: number,
  ms: number,
): Promise<StepFigures> {
  const replies = await Promise.all(
    gens.map((g) =>
      g.request({ cmd: "chat-step", ratePerUser, ms, maxInFlight: 2, drainMs: 30_000 }, "step"),
    ),
  );
  const latencies = replies.flatMap((r) => r.latencies);
  const ackLatencies = replies.flatMap((r) => r.ackLatencies);
  const errors: Record<string, number> = {};
  for (const r of replies) {
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const sum = (f: (r: (typeof replies)[number]) => number) => replies.reduce((a, r) => a + f(r), 0);
  return {
    ratePerUser,
    targetPerSecond: ratePerUser * users,
    sent: sum((r) => r.sent),
    skipped: sum((r) => r.skipped),
    storedPerSecond: round(sum((r) => r.ackedInWindow) / (ms / 1000), 0),
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    ackP50: round(percentile(ackLatencies, 50)),
    ackP99: round(percentile(ackLatencies, 99)),
    missing: sum((r) => r.missing),
    errors,
  };
}

async function chatWorkload(servers: Server[], seeded: Seeded, db: Child | undefined) {
  const chats = seeded.chats.slice(0, opts.users / 2);
  const users = chats.length * 2;
  const pairs: ChatPair[] = chats.map((chat, i) => ({
    chatId: chat.id,
    a: { id: chat.a.id, url: tokenUrl(servers[i % servers.length]!, chat.a.token) },
    // With two instances, the two sides of every chat sit on different instances.
    b: { id: chat.b.id, url: tokenUrl(servers[(i + 1) % servers.length]!, chat.b.token) },
  }));
  const gens = generators(2, "chat-gen");
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
    log(`chat: ${users} users connected; warming up`);
    await runStep(gens, users, 1, 2000);
    const pids = {
      app: servers.map((s) => s.child.pid),
      db: db ? [db.pid] : [],
      generators: gens.map((g) => g.child.pid),
    };
    const measured = async (ratePerUser: number, ms: number) => {
      const [result, cpu] = await Promise.all([
        runStep(gens, users, ratePerUser, ms),
        coresBusy(pids, ms),
      ]);
      result.cpu = cpu;
      return result;
    };
    const steps: StepFigures[] = [];
    for (const ratePerUser of opts.rates) {
      const result = await measured(ratePerUser, opts.stepMs);
      steps.push(result);
      log(
        `chat: ${fmt.int(result.targetPerSecond)}/s offered → ${fmt.int(result.storedPerSecond)}/s stored, ` +
          `p50 ${fmt.ms(result.p50)} p99 ${fmt.ms(result.p99)}, cores busy ${JSON.stringify(result.cpu)}`,
      );
      if (result.storedPerSecond < 0.9 * result.targetPerSecond) break;
    }
    const best = steps.reduce((a, s) => (s.storedPerSecond > a.storedPerSecond ? s : a), steps[0]!);
    const saturated = steps.some((s) => s.storedPerSecond < 0.9 * s.targetPerSecond);
    const half = await measured(best.storedPerSecond / 2 / users, opts.durationMs);
    log(
      `chat: half rate ${fmt.int(half.targetPerSecond)}/s → p50 ${fmt.ms(half.p50)} p99 ${fmt.ms(half.p99)}, ` +
        `cores busy ${JSON.stringify(half.cpu)}`,
    );
    return {
      users,
      chats: chats.length,
      instances: servers.length,
      saturationPerSecond: best.storedPerSecond,
      /** False when even the highest step kept up: the figure is a floor, capped by the per-user limit. */
      saturated,
      steps,
      half,
    };
  } finally {
    await closeGenerators(gens);
  }
}

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
  const needsServer = SERVER_WORKLOADS.some((w) => only.has(w));
  const database = needsServer
    ? await startDatabase()
    : { uri: "", child: undefined, note: "none (no workload needs one)" };
  if (needsServer) log(`database: ${database.note}`);
  const seeded = needsServer ? await seedDatabase(database.uri) : { users: [], chats: [] };

  if (only.has("chat")) {
    const app = await startApp(database.uri);
    try {
      const chat = await chatWorkload([app], seeded, database.child);
      results.chat = chat;
      rows.push(
        {
          workload: "chat",
          figure: `stored msg/s at saturation (${chat.users} users)`,
          app: chat.saturated
            ? fmt.int(chat.saturationPerSecond)
            : `≥ ${fmt.int(chat.saturationPerSecond)}`,
          baseline: "",
          ratio: "",
          target: "≥ 5,000",
          met: chat.saturationPerSecond >= 5000 ? "yes" : "no",
        },
        {
          workload: "chat",
          figure: `send→receive p50 / p99 at ${fmt.int(chat.half.targetPerSecond)}/s`,
          app: `${fmt.ms(chat.half.p50)} / ${fmt.ms(chat.half.p99)}`,
          baseline: "",
          ratio: "",
          target: "p99 < 25 ms",
          met: chat.half.p99 < 25 ? "yes" : "no",
        },
      );
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
      ratio: fmt.ratio(ratio),
      target: "≤ 200%",
      met: ratio <= 2 && appRun.failed === 0 ? "yes" : "no",
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
    const redisUrl =
      process.env.REDIS_URL || (flags["start-redis"] ? await startRedis() : undefined);
    if (!redisUrl) {
      results.redis = { skipped: "REDIS_URL is not set (or pass --start-redis)" };
      rows.push({
        workload: "chat ×2 (Redis)",
        figure: "skipped: REDIS_URL is not set",
        app: "",
        baseline: "",
        ratio: "",
        target: "",
        met: "",
      });
    } else {
      const apps = [
        await startApp(database.uri, { REDIS_URL: redisUrl }),
        await startApp(database.uri, { REDIS_URL: redisUrl }),
      ];
      try {
        const crossing = await redisWorks(apps, seeded);
        if (!crossing) {
          results.redis = {
            skipped: "messages do not cross instances: the Redis broker is not in place",
          };
          rows.push({
            workload: "chat ×2 (Redis)",
            figure: "skipped: no cross-instance delivery yet",
            app: "",
            baseline: "",
            ratio: "",
            target: "",
            met: "",
          });
        } else {
          const chat = await chatWorkload(apps, seeded, database.child);
          results.redis = chat;
          rows.push({
            workload: "chat ×2 (Redis)",
            figure: `stored msg/s; p50 / p99 at ${fmt.int(chat.half.targetPerSecond)}/s`,
            app: `${chat.saturated ? "" : "≥ "}${fmt.int(chat.saturationPerSecond)}; ${fmt.ms(chat.half.p50)} / ${fmt.ms(chat.half.p99)}`,
            baseline: "",
            ratio: "",
            target: "",
            met: "",
          });
        }
      } finally {
        await Promise.all(apps.map((a) => a.child.stop()));
      }
    }
  }

  await database.child?.stop();
  const table = formatTable(rows);
  console.log(`\n${table}\n`);
  const report = {
    startedAt: startedAt.toISOString(),
    seconds: round((Date.now() - startedAt.getTime()) / 1000, 1),
    machine: host,
    database: database.note,
    options: opts,
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

/** `--start-redis`: a private, throwaway redis-server on a free port. */
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
