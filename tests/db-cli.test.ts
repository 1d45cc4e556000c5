import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CLI = resolve(import.meta.dir, "../src/db/embedded/cli.ts");

/** `bun run db --port 0 --dir <dir>` as a child process. */
const startStore = (dir: string) =>
  Bun.spawn(["bun", CLI, "--port", "0", "--dir", dir], { stdout: "pipe", stderr: "pipe" });

/** Resolves once the store says it listens; rejects if it exits first. */
async function listening(child: ReturnType<typeof startStore>): Promise<void> {
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let output = "";
  try {
    while (!output.includes("listening on")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`store exited before listening: ${output}`);
      output += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("bun run db", () => {
  test("a data directory in use: one line on stderr naming it, no stack, a non-zero exit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-cli-"));
    const first = startStore(dir);
    cleanups.push(async () => {
      process.kill(first.pid, "SIGTERM");
      await first.exited;
      rmSync(dir, { recursive: true, force: true });
    });
    await listening(first);

    const second = startStore(dir);
    const [code, stderr, stdout] = await Promise.all([
      second.exited,
      new Response(second.stderr).text(),
      new Response(second.stdout).text(),
    ]);

    expect(code).not.toBe(0);
    expect(stdout).toBe("");
    const lines = stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(dir);
    expect(lines[0]).toContain(`process ${first.pid}`);
    expect(stderr).not.toMatch(/^\s*at /m);
  });
});
