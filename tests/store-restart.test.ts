import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Connection } from "mongoose";
import { startTestApp, type TestApp } from "./support/app.ts";
import { type StoreProcess, storeProcess } from "./support/store-process.ts";
import { registerUser, type TestUser } from "./support/users.ts";

/**
 * The app finds its database again however it crashed: the store runs as a process of its own
 * and is killed (SIGKILL) and started again on the same port and directory, over and over, while
 * the app serves reads and writes. After every restart a write through the app succeeds, and
 * /ready answers 200, within 5 s of the store listening again.
 *
 * The kill moment varies, with writes and reads in flight all along: within 200 ms of the app
 * recovering, or in every third cycle 450-800 ms after (when the driver's monitor, which checks
 * every second, is idle between two checks), and in every fourth cycle a second kill 0-300 ms
 * after the store came back, while the driver is still handshaking with it.
 */
const CYCLES = 100;
const READERS = 10;
const RECOVERY_LIMIT_MS = 5000;
/**
 * A background request not answered by then is counted as hung and given up on, but not failed:
 * under Bun 1.4 a request whose command goes out on a pooled connection in the instant between the
 * store's FIN (Bun destroys the socket) and Bun's 'close' event is never answered, because the
 * driver waits for a 'drain' that cannot come. That is the runtime's bug, not this app's.
 */
const REQUEST_LIMIT_MS = 15_000;
const PASSWORD = "correct horse battery";

/** Clients that keep reading and writing through the app all along. */
const traffic = { running: true, answered: 0, hung: 0 };

/** The driver's monitoring events (kinds and classes only), to explain a failed cycle. */
const monitoring = {
  since: performance.now(),
  events: [] as string[],
  note(line: string) {
    this.events.push(`${Math.round(performance.now() - this.since)} ms: ${line}`);
    if (this.events.length > 40) this.events.shift();
  },
  watch(client: ReturnType<Connection["getClient"]>) {
    client.on("serverHeartbeatSucceeded", (e) => this.note(`heartbeat ok, awaited ${e.awaited}`));
    client.on("serverHeartbeatFailed", (e) => this.note(`heartbeat failed: ${e.failure.name}`));
    client.on("serverDescriptionChanged", (e) =>
      this.note(`server ${e.previousDescription.type} -> ${e.newDescription.type}`),
    );
    client.on("connectionPoolCleared", () => this.note("pool cleared"));
  },
  recent(): string[] {
    return [`now ${Math.round(performance.now() - this.since)} ms`, ...this.events];
  },
};

let store: StoreProcess;
let server: TestApp;
let reader: TestUser;

beforeAll(async () => {
  store = await storeProcess();
  server = await startTestApp({}, { mongo: { uri: store.uri, dbName: "restarts" } });
  monitoring.watch(server.db.connection.getClient());
  reader = await registerUser(server.api);
});

afterAll(async () => {
  await server?.stop();
  await store?.stop();
});

/** One request over real HTTP; its status, or undefined if it failed or was not answered. */
async function status(path: string, init: RequestInit = {}): Promise<number | undefined> {
  try {
    const res = await fetch(`${server.url}${path}`, {
      ...init,
      signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
    });
    await res.arrayBuffer();
    return res.status;
  } catch (error) {
    if (error instanceof Error && error.name === "TimeoutError") traffic.hung++;
    return undefined;
  }
}

function register(): Promise<number | undefined> {
  return status("/api/auth/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: "Restart",
      email: `restart.${crypto.randomUUID()}@example.com`,
      password: PASSWORD,
    }),
  });
}

async function client(request: () => Promise<number | undefined>): Promise<void> {
  while (traffic.running) {
    if ((await request()) !== undefined) traffic.answered++;
    await Bun.sleep(5);
  }
}

/** Polls `request` until it answers `expected`; the time that took, or undefined past the limit. */
async function timeUntil(
  since: number,
  request: () => Promise<number | undefined>,
  expected: number,
  limitMs = RECOVERY_LIMIT_MS,
): Promise<number | undefined> {
  while (performance.now() - since < limitMs) {
    if ((await request()) === expected) return performance.now() - since;
    await Bun.sleep(20);
  }
  return undefined;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

test(`after each of ${CYCLES} kill -9 / restart cycles, a write through the app succeeds within 5 s`, async () => {
  const me = () => status("/api/auth/me", { headers: { authorization: `Bearer ${reader.token}` } });
  // Read-heavy, as a chat is: a failed read is retried at once, which wakes the driver's monitor
  // in the very moment its own connection to the killed store is going away.
  const clients = [client(register), ...Array.from({ length: READERS }, () => client(me))];
  const writeTimes: number[] = [];
  const readyTimes: number[] = [];
  const failures: string[] = [];
  const started = performance.now();
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await Bun.sleep(cycle % 3 === 2 ? 450 + Math.random() * 350 : Math.random() * 200);
      await store.kill();
      await store.start();
      if (cycle % 4 === 3) {
        await Bun.sleep(Math.random() * 300);
        await store.kill();
        await store.start();
      }
      const listening = performance.now();
      const wrote = await timeUntil(listening, register, 201);
      const ready = await timeUntil(listening, () => status("/ready"), 200);
      if (wrote !== undefined) writeTimes.push(wrote);
      if (ready !== undefined) readyTimes.push(ready);
      if (wrote !== undefined && ready !== undefined) continue;
      // Late, or cut off for good? Tell them apart, and show what the driver saw meanwhile.
      const late = await timeUntil(performance.now(), register, 201, 30_000);
      failures.push(
        `cycle ${cycle}: within 5 s, write ${wrote === undefined ? "never" : "ok"}, ` +
          `/ready ${ready === undefined ? "never 200" : "ok"}; ` +
          (late === undefined
            ? "still cut off 30 s on"
            : `a write got through ${Math.round(late)} ms on`),
        ...monitoring.recent(),
      );
      break;
    }
  } finally {
    traffic.running = false;
    await Promise.all(clients);
  }
  writeTimes.sort((x, y) => x - y);
  readyTimes.sort((x, y) => x - y);
  const ms = (value: number | undefined) => `${Math.round(value ?? Number.NaN)} ms`;
  console.log(
    [
      `store restarts: ${writeTimes.length} of ${CYCLES} recovered from within 5 s, in ${ms(performance.now() - started)}`,
      `first write after restart: p50 ${ms(percentile(writeTimes, 0.5))}, p90 ${ms(percentile(writeTimes, 0.9))}, max ${ms(writeTimes.at(-1))}`,
      `/ready 200 after restart: p50 ${ms(percentile(readyTimes, 0.5))}, p90 ${ms(percentile(readyTimes, 0.9))}, max ${ms(readyTimes.at(-1))}`,
      `background requests: ${traffic.answered} answered, ${traffic.hung} unanswered after ${REQUEST_LIMIT_MS / 1000} s`,
    ].join("\n"),
  );
  expect(failures).toEqual([]);
  expect(writeTimes.length).toBe(CYCLES);
}, 360_000);
