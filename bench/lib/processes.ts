/**
 * Every process the bench starts goes through here, so that all of them are stopped on the way
 * out: normal end, an exception, Ctrl-C or SIGTERM.
 */
import type { Subprocess } from "bun";

const children = new Set<Subprocess>();
let cleanupHooked = false;

function hookCleanup(): void {
  if (cleanupHooked) return;
  cleanupHooked = true;
  // Last resort: the process is leaving, no time for a graceful stop.
  process.on("exit", () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping every process the bench started`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

export interface SpawnOptions {
  cmd: string[];
  env?: Record<string, string>;
  /** Prefix for the child's stderr/stdout lines when `echo` is on. */
  name: string;
  /** Raises the open-file limit (soft, up to the hard limit) before exec'ing the command. */
  nofile?: number;
  ipc?: (message: unknown) => void;
  /** Collects stdout/stderr in memory (last 64 KiB) for error reports; never printed by default. */
  quiet?: boolean;
}

export interface Child {
  readonly name: string;
  readonly proc: Subprocess;
  readonly pid: number;
  /** The tail of what it printed, for error messages. */
  output(): string;
  send(message: unknown): void;
  stop(): Promise<void>;
}

/** Starts a process that the bench owns; `stopAll` ends it. */
export function spawnChild(options: SpawnOptions): Child {
  hookCleanup();
  const cmd = options.nofile
    ? [
        "bash",
        "-c",
        `ulimit -n ${options.nofile} 2>/dev/null || ulimit -n hard; exec "$@"`,
        "bash",
        ...options.cmd,
      ]
    : options.cmd;
  let tail = "";
  const proc = Bun.spawn({
    cmd,
    cwd: process.cwd(),
    env: { ...process.env, ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(options.ipc
      ? { ipc: (message: unknown) => options.ipc?.(message), serialization: "json" as const }
      : {}),
  });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      tail = (tail + decoder.decode(chunk)).slice(-65536);
    }
  };
  void collect(proc.stdout as ReadableStream<Uint8Array>);
  void collect(proc.stderr as ReadableStream<Uint8Array>);
  return {
    name: options.name,
    proc,
    pid: proc.pid,
    output: () => tail,
    send(message) {
      proc.send(message);
    },
    stop: () => stopChild(proc),
  };
}

async function stopChild(proc: Subprocess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const exited = await Promise.race([
    proc.exited.then(() => true),
    Bun.sleep(3000).then(() => false),
  ]);
  if (!exited) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child)));
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}

/** Waits until `url` answers 200, or fails with what the process printed. */
export async function waitForHttp(url: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) {
      throw new Error(`${child.name} exited (${child.proc.exitCode}):\n${child.output()}`);
    }
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  throw new Error(`${child.name} did not answer ${url} within ${timeoutMs} ms:\n${child.output()}`);
}

/** Waits until a TCP port accepts connections. */
export async function waitForPort(port: number, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) {
      throw new Error(`${child.name} exited (${child.proc.exitCode}):\n${child.output()}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open(socket) {
            socket.end();
            resolve(true);
          },
          data() {},
          connectError() {
            resolve(false);
          },
        },
      }).catch(() => resolve(false));
    });
    if (open) return;
    await Bun.sleep(100);
  }
  throw new Error(
    `${child.name} did not listen on ${port} within ${timeoutMs} ms:\n${child.output()}`,
  );
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await Bun.file(`/proc/${pid}/stat`).text();
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return 0;
  }
}
