import { describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { apiClient } from "./support/http.ts";
import { registerUser } from "./support/users.ts";
import { openSocket } from "./support/ws.ts";

const ENTRY = resolve(import.meta.dir, "../index.ts");

/** Reads the child's JSON log lines until one matches. */
async function waitForLog(
  stream: ReadableStream<Uint8Array>,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (match(parsed)) return parsed;
        } catch {
          // not a log line
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
  throw new Error("the expected log line never came");
}

describe("the server process (index.ts)", () => {
  test("starts on the embedded store, answers, and exits 0 on SIGTERM", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "server-"));
    const child = Bun.spawn(["bun", ENTRY], {
      cwd,
      env: {
        ...process.env,
        PORT: "0",
        NODE_ENV: "development",
        LOG_LEVEL: "info",
        MONGODB_URI: "",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const dbLine = await waitForLog(child.stdout, (l) => l.database !== undefined);
      expect(dbLine.database).toBe("embedded");
      const listening = await waitForLog(child.stdout, (l) => l.msg === "listening");
      const base = `http://127.0.0.1:${listening.port}`;
      expect((await fetch(`${base}/health`)).status).toBe(200);
      expect((await fetch(`${base}/ready`)).status).toBe(200);

      const api = apiClient(base);
      const user = await registerUser(api);
      const socket = await openSocket(`${base.replace("http", "ws")}/ws?token=${user.token}`);
      await socket.next("online-users");
      child.kill("SIGTERM");
      // Open sockets are told the server is going away, and the process ends cleanly.
      expect(await socket.closed()).toBe(1001);
      expect(await child.exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
      await rm(cwd, { recursive: true, force: true });
    }
  });

  test("a bad configuration stops the process with one line per problem", async () => {
    const child = Bun.spawn(["bun", ENTRY], {
      env: {
        ...process.env,
        PORT: "http",
        NODE_ENV: "production",
        MONGODB_URI: "",
        JWT_SECRET: "",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await child.exited).toBe(1);
    const lines = (await new Response(child.stderr).text()).trim().split("\n");
    expect(lines).toEqual([expect.stringMatching(/^config: PORT: /)]);
  });
});
