/**
 * The client SDK's bundle as a web app ships it: `Bun.build` of `src/client/index.ts` for the
 * browser, minified, then gzip. No server, no network: a second or so.
 */
import { isBuiltin } from "node:module";
import { resolve } from "node:path";

const ENTRY = resolve(import.meta.dir, "../../src/client/index.ts");

/**
 * What a Node built-in leaves in a browser bundle. A module such as `node:events` never shows up
 * in the text: Bun inlines a polyfill for it, so imports are checked in the metafile instead.
 */
const NODE_GLOBALS = [/node:/, /\bBuffer\b/, /\bprocess\./];

export interface BundleFigures {
  /** `@elysiajs/eden` left out (an app that has it already, or uses `fetch` alone). */
  edenExternal: boolean;
  minifiedBytes: number;
  gzipBytes: number;
  /** Source files bundled, from the metafile. */
  inputs: number;
}

/** Builds the bundle and measures it; throws, naming each offence, if it touches Node. */
export async function measureClientBundle(edenExternal: boolean): Promise<BundleFigures> {
  const built = await Bun.build({
    entrypoints: [ENTRY],
    target: "browser",
    minify: true,
    metafile: true,
    external: edenExternal ? ["@elysiajs/eden"] : [],
  });
  if (!built.success) throw new Error(`client bundle: build failed\n${built.logs.join("\n")}`);
  const [output] = built.outputs;
  if (!output || built.outputs.length !== 1) {
    throw new Error(`client bundle: expected one output, got ${built.outputs.length}`);
  }
  const text = await output.text();
  const { metafile } = built;
  if (!metafile) throw new Error("client bundle: Bun.build gave no metafile");

  const offences: string[] = [];
  for (const [file, { imports }] of Object.entries(metafile.inputs)) {
    if (isBuiltin(file)) offences.push(`a polyfill for ${file} is bundled`);
    for (const { path } of imports) {
      if (isBuiltin(path)) offences.push(`${file} imports ${path}`);
    }
  }
  for (const pattern of NODE_GLOBALS) {
    const at = text.search(pattern);
    if (at >= 0) offences.push(`the bundle mentions ${pattern}: …${text.slice(at - 40, at + 40)}…`);
  }
  if (offences.length > 0) {
    throw new Error(
      `client bundle (Eden ${edenExternal ? "external" : "included"}) references Node built-ins; ` +
        `it must run unchanged in browsers and React Native:\n  ${offences.join("\n  ")}`,
    );
  }

  return {
    edenExternal,
    minifiedBytes: Buffer.byteLength(text),
    gzipBytes: Bun.gzipSync(Buffer.from(text)).byteLength,
    inputs: Object.keys(metafile.inputs).length,
  };
}
