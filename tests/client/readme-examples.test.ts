import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";

/**
 * The README's client examples are the ones `tsc` compiles: each `ts` block of its "Clients"
 * section is, character for character, the marked part of a file under tests/types/ (the call:
 * tests/browser/page/call.ts, which the browser call tests run). Edit one, and the other has to
 * follow.
 */
const root = resolve(import.meta.dir, "../..");

async function section(title: string): Promise<string> {
  const readme = await Bun.file(resolve(root, "README.md")).text();
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

function codeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

/** The part of `file` (under tests/) between `// ---- README: <name> ----` and `// ---- end ----`. */
async function example(file: string, name: string): Promise<string> {
  const text = await Bun.file(resolve(root, "tests", file)).text();
  const match = new RegExp(
    `^// ---- README: ${name} ----\\n([\\s\\S]*?)^// ---- end ----$`,
    "m",
  ).exec(text);
  expect(match).not.toBeNull();
  return match![1]!;
}

describe("the README's client examples", () => {
  test("are the type-checked copies under tests/, verbatim", async () => {
    const blocks = codeBlocks(await section("Clients"));
    const vite = await example("types/client-vite-example.ts", "Vite");
    const expo = await example("types/client-expo-example.ts", "Expo");
    // The call is the page code the browser call tests run (tests/browser/calls.test.ts).
    const call = await example("browser/page/call.ts", "Calls");
    expect(blocks).toContain(vite);
    expect(blocks).toContain(expo);
    expect(blocks).toContain(call);
  });
});
