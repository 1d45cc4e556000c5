import { describe, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { describeInChromium } from "./browser.ts";

/**
 * A network namespace with nothing in it but its own loopback, for tests that must not send a
 * single packet to any other address of the machine: the browser calls, whose WebRTC stack sends
 * to whatever addresses ICE finds on the machine's interfaces. `unshare -n` makes one (root, or
 * CAP_SYS_ADMIN), `ip link set lo up` brings its loopback up, and `nsenter` puts another process
 * (Chromium) in it. Inside, 127.0.0.1 is the namespace's own: the processes there reach each
 * other and nothing else, and nothing outside reaches them.
 */

/** Why no such namespace can be made here, or null when one can. */
export function loopbackNamespaceProblem(): string | null {
  for (const tool of ["unshare", "nsenter", "ip"]) {
    if (!Bun.which(tool)) return `${tool} is not installed`;
  }
  const probe = Bun.spawnSync(["unshare", "-n", "ip", "link", "set", "lo", "up"], {
    stdout: "ignore",
    stderr: "pipe",
  });
  if (probe.exitCode !== 0) {
    return `unshare -n is not allowed here: ${probe.stderr.toString().trim() || `exit ${probe.exitCode}`}`;
  }
  return null;
}

/**
 * `describeInChromium`, in a loopback-only namespace: without one (not root, or no `unshare`)
 * the block is skipped with a warning on a developer's machine and fails in CI (CI=true), where
 * the tests run as root.
 */
export function describeInLoopbackNamespace(name: string, body: () => void): void {
  const problem = loopbackNamespaceProblem();
  if (!problem) {
    describeInChromium(name, body);
  } else if (process.env.CI) {
    test(`${name}: a loopback-only network namespace`, () => {
      throw new Error(`${problem}, so the tests that need one could not run`);
    });
  } else {
    console.warn(`tests skipped (${name}): ${problem}`);
    describe.skip(name, body);
  }
}

/**
 * Runs `command` in a new network namespace whose only interface, loopback, is up. The process
 * is the namespace's first: its pid names the namespace (`/proc/<pid>/ns/net`) once it has
 * started. Stop it by its pid (`kill()`); the namespace goes with the last process in it.
 */
export function spawnInLoopbackNamespace(
  command: string[],
  options: { env?: Record<string, string | undefined> } = {},
): Subprocess<"pipe", "pipe", "inherit"> {
  return Bun.spawn(
    ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...command],
    { stdin: "pipe", stdout: "pipe", stderr: "inherit", env: options.env },
  );
}

/**
 * An executable in `dir` that runs `executable` with its arguments inside the namespace of
 * process `pid` (for Playwright's `executablePath`: the pipes it talks over are inherited).
 */
export function executableInNamespace(pid: number, executable: string, dir: string): string {
  const path = join(dir, "in-namespace");
  writeFileSync(
    path,
    `#!/bin/sh\nexec nsenter --net=/proc/${pid}/ns/net -- '${executable}' "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}
