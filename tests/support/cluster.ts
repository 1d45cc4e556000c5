/**
 * Several instances of the app behind one Redis: a Redis to use (the shared one on 6379 with a
 * namespace of the test's own, or a private `redis-server` that a test may kill and restart), and
 * app instances in child processes that a test may kill like a crash would.
 */

import { resolve } from "node:path";
import { RedisClient } from "bun";
import type { RealtimeOptions } from "../../src/realtime/index.ts";
import { startTestApp, type TestApp } from "./app.ts";
import { type Api, apiClient } from "./http.ts";
import { type TestMongo, testMongo } from "./mongo.ts";
import { openSocket, type TestSocket } from "./ws.ts";

export const SHARED_REDIS_URL = "redis://127.0.0.1:6379";
export const redisServerInstalled = Bun.which("redis-server") !== null;

/** True when a Redis answers PING at `url` within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const client = new RedisClient(url, {
    autoReconnect: false,
    enableOfflineQueue: false,
    connectionTimeout: 1000,
  });
  client.onclose = () => {};
  try {
    await client.connect();
    return (await client.send("PING", [])) === "PONG";
  } catch {
    return false;
  } finally {
    client.close();
  }
}

/** Deletes every key of `namespace`: what a test run leaves behind. */
export async function clearNamespace(url: string, namespace: string): Promise<void> {
  const client = new RedisClient(url, { autoReconnect: false, enableOfflineQueue: false });
  client.onclose = () => {};
  try {
    await client.connect();
    let cursor = "0";
    do {
      const [next, keys] = (await client.send("SCAN", [
        cursor,
        "MATCH",
        `${namespace}:*`,
        "COUNT",
        "500",
      ])) as [string, string[]];
      if (keys.length > 0) await client.send("DEL", keys);
      cursor = next;
    } while (cursor !== "0");
  } catch {
    // Nothing to clean when it is gone.
  } finally {
    client.close();
  }
}

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}

export interface PrivateRedis {
  readonly url: string;
  /** The running server's process id; undefined while it is killed. */
  readonly pid: number | undefined;
  /** Kills it hard, as an outage would (thawing it first if it is frozen). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence), as after a restart. */
  restart(): Promise<void>;
  /**
   * SIGSTOP: it keeps its port and its connections, and the kernel still accepts new ones, but it
   * answers nothing, as a hung Redis or a silent network would.
   */
  freeze(): void;
  /** SIGCONT: it carries on from where it stopped. */
  thaw(): void;
}

/** A `redis-server` of this test's own on a free port, with no persistence. */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server: ReturnType<typeof Bun.spawn> | undefined;
  let frozen = false;
  const thaw = () => {
    if (frozen) server?.kill("SIGCONT");
    frozen = false;
  };
  const start = async () => {
    server = Bun.spawn(
      [
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
      { stdout: "ignore", stderr: "ignore" },
    );
    for (let i = 0; i < 50 && !(await redisAnswers(url)); i++) await Bun.sleep(50);
  };
  await start();
  // A test that dies while Redis is frozen must not leave a stopped server behind.
  process.once("exit", () => {
    thaw();
    server?.kill("SIGKILL");
  });
  return {
    url,
    get pid() {
      return server?.pid;
    },
    async kill() {
      thaw();
      server?.kill("SIGKILL");
      await server?.exited;
      server = undefined;
    },
    restart: start,
    freeze() {
      if (!server || frozen) return;
      server.kill("SIGSTOP");
      frozen = true;
    },
    thaw,
  };
}

export interface SpawnedInstance {
  readonly url: string;
  readonly port: number;
  readonly api: Api;
  socket(token: string): Promise<TestSocket>;
  /** SIGKILL: no graceful close, no presence cleanup, sockets dropped. */
  kill(): Promise<void>;
}

const INSTANCE_ENTRY = resolve(import.meta.dir, "instance.ts");

/**
 * Starts an app instance in a child process, sharing `mongo` and Redis: on `options.port` (a
 * restart on the port of a killed instance keeps its URL), else on a free port.
 */
export async function spawnInstance(
  env: Record<string, string>,
  options: { mongo: { uri: string; dbName: string }; realtime: RealtimeOptions; port?: number },
): Promise<SpawnedInstance> {
  const child = Bun.spawn(["bun", INSTANCE_ENTRY], {
    env: {
      PATH: process.env.PATH ?? "",
      ...env,
      TEST_MONGO_URI: options.mongo.uri,
      TEST_MONGO_DB: options.mongo.dbName,
      TEST_REALTIME: JSON.stringify(options.realtime),
      ...(options.port ? { TEST_PORT: String(options.port) } : {}),
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let output = "";
  const timeout = setTimeout(() => child.kill("SIGKILL"), 15_000);
  while (!output.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`instance exited before listening: ${output}`);
    output += decoder.decode(value, { stream: true });
  }
  clearTimeout(timeout);
  reader.releaseLock();
  const { port } = JSON.parse(output.slice(0, output.indexOf("\n"))) as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    api: apiClient(url),
    socket: (token) => openSocket(`ws://127.0.0.1:${port}/ws?token=${token}`),
    async kill() {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** Whether the shared Redis answers; else tests start a private `redis-server` (if installed). */
export const sharedRedisUp = await redisAnswers(SHARED_REDIS_URL);
export const canScaleOut = sharedRedisUp || redisServerInstalled;

/** Heartbeat and expiry short enough for a test to see an instance die in about 2 s. */
export const TEST_TIMING = { heartbeatMs: 250, expiryMs: 2000 } satisfies RealtimeOptions;

/** Two in-process instances of one deployment: one database, one Redis, one namespace. */
export interface TwoInstances {
  readonly a: TestApp;
  readonly b: TestApp;
  readonly mongo: TestMongo;
  readonly redisUrl: string;
  /** What a further instance of the same deployment needs (spawnInstance, startTestApp). */
  readonly env: Record<string, string>;
  readonly realtime: RealtimeOptions;
  stop(): Promise<void>;
}

/**
 * Starts two instances on a fresh database and the shared Redis (a private one when it is not
 * there), under a namespace of their own, and waits until both are ready.
 */
export async function twoInstances(env: Record<string, string> = {}): Promise<TwoInstances> {
  const mongo = await testMongo();
  const redis = sharedRedisUp ? undefined : await privateRedis();
  const redisUrl = redis?.url ?? SHARED_REDIS_URL;
  const realtime = { ...TEST_TIMING, namespace: `test-${crypto.randomUUID().slice(0, 8)}` };
  const fullEnv = { REDIS_URL: redisUrl, ...env };
  const options = { mongo, realtime };
  const [a, b] = await Promise.all([
    startTestApp(fullEnv, options),
    startTestApp(fullEnv, options),
  ]);
  for (const app of [a, b]) {
    for (let i = 0; i < 100 && (await fetch(`${app.url}/ready`)).status !== 200; i++) {
      await Bun.sleep(50);
    }
  }
  return {
    a,
    b,
    mongo,
    redisUrl,
    env: fullEnv,
    realtime,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
      await clearNamespace(redisUrl, realtime.namespace);
      await redis?.kill();
      await mongo.stop();
    },
  };
}
