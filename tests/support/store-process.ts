/**
 * The embedded store as a process of its own (`bun run db --port --dir`), the way a deployment
 * without MongoDB would run it, so a test can kill it (SIGKILL), freeze it (SIGSTOP) and start it
 * again on the same port and directory, as a crash and a restart would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CLI = resolve(import.meta.dir, "../../src/db/embedded/cli.ts");

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}

export interface StoreProcess {
  readonly uri: string;
  readonly port: number;
  readonly dir: string;
  /** The running process's id, or undefined while it is down. */
  readonly pid: number | undefined;
  /** SIGKILL: no flush, no goodbye to its clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it listens. */
  start(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

/** A store on a free port with a fresh directory; started before this resolves. */
export async function storeProcess(): Promise<StoreProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "store-"));
  let child: ReturnType<typeof Bun.spawn> | undefined;

  const start = async () => {
    const spawned = Bun.spawn(["bun", CLI, "--port", String(port), "--dir", dir], {
      stdout: "pipe",
      stderr: "pipe",
    });
    child = spawned;
    const reader = spawned.stdout.getReader();
    const decoder = new TextDecoder();
    let output = "";
    const deadline = setTimeout(() => spawned.kill("SIGKILL"), 15_000);
    try {
      while (!output.includes("listening on")) {
        const { done, value } = await reader.read();
        if (done) {
          const stderr = await new Response(spawned.stderr).text();
          throw new Error(`store exited before listening: ${output}${stderr}`);
        }
        output += decoder.decode(value, { stream: true });
      }
    } finally {
      clearTimeout(deadline);
      reader.releaseLock();
    }
    // Nobody reads its output from here on; keep the pipe from filling up.
    void spawned.stdout.pipeTo(new WritableStream()).catch(() => {});
    void spawned.stderr.pipeTo(new WritableStream()).catch(() => {});
  };

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    running.kill("SIGKILL");
    await running.exited;
  };

  await start();
  return {
    uri: `mongodb://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    kill,
    start,
    freeze: () => child?.kill("SIGSTOP"),
    thaw: () => child?.kill("SIGCONT"),
    async stop() {
      child?.kill("SIGCONT");
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
