import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";

/**
 * Scalar's API reference as installed (package.json pins it exactly, bun.lock holds it): the
 * browser bundle is one self-contained script, so the UI needs nothing from the internet.
 */
const scalarRoot = dirname(dirname(Bun.resolveSync("@scalar/api-reference", import.meta.dir)));
const SCALAR_VERSION: string = JSON.parse(
  readFileSync(join(scalarRoot, "package.json"), "utf8"),
).version;
const scalarBundle = join(scalarRoot, "dist", "browser", "standalone.js");

/**
 * The script's address names its version, so it can be cached for good: a new version is a new
 * address. The page names it relatively, as it does the spec (`swagger/json`).
 */
const SCRIPT_PATH = `/swagger/assets/api-reference-${SCALAR_VERSION}.js`;

/**
 * `/swagger` (Scalar's UI) and `/swagger/json` (OpenAPI) with every asset served from here: the
 * plugin would otherwise load the UI from a CDN at `@latest` (a blank page offline, and a
 * different UI whenever Scalar releases), and Scalar its fonts from fonts.scalar.com.
 */
export function apiDocs(info: { title: string; version: string; description: string }) {
  // Newer options than the plugin's typings know, so given as a value rather than a literal.
  const scalarConfig = {
    // The system's fonts instead of Inter from fonts.scalar.com.
    withDefaultFonts: false,
    // Scalar's "Ask AI" agent and developer toolbar (shown on localhost) talk to Scalar's servers.
    agent: { disabled: true },
    showDeveloperTools: "never" as const,
  };
  return new Elysia({ name: "api-docs" })
    .get(
      SCRIPT_PATH,
      ({ set }) => {
        set.headers["cache-control"] = "public, max-age=31536000, immutable";
        return Bun.file(scalarBundle);
      },
      { detail: { hide: true } },
    )
    .use(
      swagger({
        path: "/swagger",
        scalarCDN: SCRIPT_PATH.slice(1),
        scalarConfig,
        documentation: { info },
      }),
    );
}
