/**
 * The server side of the browser call tests, run by tests/browser/calls.test.ts as a process of
 * its own inside a network namespace that has only loopback (tests/support/netns.ts): the real
 * app on a fresh embedded store, and the page that runs the calls (tests/browser/page/call.ts,
 * bundled with the client SDK) on another port, another origin of the same site. It prints one
 * JSON line, `{ server, page, interfaces }`, and stops when its standard input closes.
 */
import { networkInterfaces } from "node:os";
import { resolve } from "node:path";
import { startTestApp } from "../support/app.ts";
import { servePages } from "../support/browser.ts";

const built = await Bun.build({
  entrypoints: [resolve(import.meta.dir, "page/call.ts")],
  target: "browser",
  minify: true,
});
if (!built.success) throw new AggregateError(built.logs, "bundling the call page failed");
const script = await built.outputs[0]!.text();
if (script.includes("</script")) throw new Error("the bundle cannot be inlined in a <script>");

const web = servePages();
// Its log (LOG_LEVEL, silent by default) on stderr: stdout carries the one line the test reads.
const server = await startTestApp(
  { CORS_ORIGINS: web.origin },
  { logTo: { write: (line) => process.stderr.write(line) } },
);
const page = web.page(
  "/call",
  `<!doctype html><meta charset=utf-8><title>call</title><div id="videos"></div>` +
    `<script type="module">${script}</script>`,
);
console.log(
  JSON.stringify({ server: server.url, page, interfaces: Object.keys(networkInterfaces()) }),
);

for await (const _ of Bun.stdin.stream()) {
  // Nothing is sent; the end of the stream (the test is done, or gone) is the signal.
}
await server.stop();
web.stop();
process.exit(0);
