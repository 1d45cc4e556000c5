import { describe, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/**
 * Real headless Chromium for the browser tests: Debian's `chromium`, driven by playwright-core
 * (which never downloads a browser of its own). Pages are served from other origins on 127.0.0.1
 * by a tiny Bun server, so what a test sees is what a web client on another port sees.
 */

/** Debian's package puts it here; anything else on the PATH named `chromium` will do too. */
export const chromiumPath: string | null = existsSync("/usr/bin/chromium")
  ? "/usr/bin/chromium"
  : Bun.which("chromium");

/** Launching, a page load, a form round trip: generous, since CI machines are shared and slow. */
export const BROWSER_TIMEOUT_MS = 20_000;

/**
 * `describe` when Chromium is installed. Without it the block is skipped with a warning on a
 * developer's machine, but fails in CI (CI=true): `.ci/run` installs Chromium, and a CI run that
 * could not must not pass as if the browser tests had run.
 */
export function describeInChromium(name: string, body: () => void): void {
  if (!chromiumPath && process.env.CI) {
    test(`${name}: chromium is installed`, () => {
      throw new Error("chromium is not installed, so the browser tests could not run");
    });
    return;
  }
  if (!chromiumPath) console.warn(`browser tests skipped (${name}): chromium is not installed`);
  describe.skipIf(!chromiumPath)(name, body);
}

export interface LaunchOptions {
  /** More command-line switches, after the usual ones (e.g. fake camera and microphone). */
  args?: string[];
  /** What to run instead of `chromiumPath`: a wrapper that starts it, e.g. in a namespace. */
  executablePath?: string;
}

/** A fresh, throwaway profile per launch; no sync, updates or other background traffic. */
export function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: options.executablePath ?? chromiumPath!,
    headless: true,
    timeout: BROWSER_TIMEOUT_MS,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...(options.args ?? []),
    ],
  });
}

/** A web origin of our own, on another port of 127.0.0.1: the page a browser test runs in. */
export interface PageServer {
  /** e.g. http://127.0.0.1:43122 */
  readonly origin: string;
  /** Serves `html` at `path` (a blank page is at `/` from the start). */
  page(path: string, html: string): string;
  stop(): void;
}

const BLANK_PAGE = "<!doctype html><meta charset=utf-8><title>test page</title><p>test page</p>";

export function servePages(): PageServer {
  const pages = new Map<string, string>([["/", BLANK_PAGE]]);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const html = pages.get(new URL(request.url).pathname);
      if (html === undefined) return new Response("not found", { status: 404 });
      return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
    },
  });
  const origin = `http://127.0.0.1:${server.port}`;
  return {
    origin,
    page(path, html) {
      pages.set(path, html);
      return origin + path;
    },
    stop() {
      server.stop(true);
    },
  };
}

/** A page that submits its one form as soon as it loads, as a forging site would. */
export function autoSubmittingForm(
  action: string,
  enctype: string,
  fields: Record<string, string>,
): string {
  const attribute = (value: string) => value.replaceAll("&", "&amp;").replaceAll('"', "&quot;");
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input name="${attribute(name)}" value="${attribute(value)}">`)
    .join("");
  return (
    `<!doctype html><meta charset=utf-8><title>form</title>` +
    `<form method="POST" enctype="${enctype}" action="${attribute(action)}">${inputs}</form>` +
    `<script>document.forms[0].submit()</script>`
  );
}

/**
 * Aborts every request of the context whose origin is not one of `allowed`, as if the machine had
 * no internet; returns the URLs it blocked, so a test can name them.
 */
export async function blockAllBut(context: BrowserContext, allowed: string[]): Promise<string[]> {
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (allowed.includes(new URL(url).origin) || url.startsWith("data:")) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  return blocked;
}

/** What `fetch` in the page gave: a response, or the error Chromium threw (a CORS refusal). */
export type PageFetchResult = { status: number; body: any } | { error: string };

export interface PageFetchInit {
  method?: string;
  /** JSON-encoded, with `content-type: application/json`. */
  json?: unknown;
  /** Sent as is. */
  body?: string;
  headers?: Record<string, string>;
  credentials?: "include" | "omit" | "same-origin";
  mode?: "cors" | "no-cors";
}

/** Runs `fetch(url, init)` inside the page, credentials included unless told otherwise. */
export function fetchFromPage(
  page: Page,
  url: string,
  init: PageFetchInit = {},
): Promise<PageFetchResult> {
  return page.evaluate(
    async ({ url, init }) => {
      const headers: Record<string, string> = { ...init.headers };
      let body = init.body;
      if (init.json !== undefined) {
        headers["content-type"] = "application/json";
        body = JSON.stringify(init.json);
      }
      try {
        const response = await fetch(url, {
          method: init.method ?? (body === undefined ? "GET" : "POST"),
          headers,
          body,
          credentials: init.credentials ?? "include",
          mode: init.mode ?? "cors",
        });
        const text = await response.text();
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : text;
        } catch {}
        return { status: response.status, body: parsed };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url, init },
  );
}

export interface PageSocketResult {
  opened: boolean;
  /** The first frame's event, when one came. */
  firstEvent?: string;
  firstData?: unknown;
  /** The close code, when it closed (1006 for an upgrade the server refused). */
  closeCode?: number;
}

/**
 * Opens `new WebSocket(url)` in the page (the browser adds the cookie and its Origin itself) and
 * reports whether it opened and its first frame, or how it closed.
 */
export function socketFromPage(page: Page, url: string, waitMs = 5000): Promise<PageSocketResult> {
  return page.evaluate(
    ({ url, waitMs }) =>
      new Promise<PageSocketResult>((resolve) => {
        const result: PageSocketResult = { opened: false };
        const socket = new WebSocket(url);
        const timer = setTimeout(() => {
          socket.close();
          resolve(result);
        }, waitMs);
        socket.onopen = () => {
          result.opened = true;
        };
        socket.onmessage = (message) => {
          const frame = JSON.parse(String(message.data));
          result.firstEvent = frame.event;
          result.firstData = frame.data;
          clearTimeout(timer);
          socket.close();
          resolve(result);
        };
        socket.onclose = (event) => {
          result.closeCode = event.code;
          clearTimeout(timer);
          resolve(result);
        };
      }),
    { url, waitMs },
  );
}

/** Signs in through the page's own `fetch`, as the web client does: the cookie is set, the token returned. */
export async function signInFromPage(
  page: Page,
  serverUrl: string,
  email: string,
  password: string,
): Promise<{ status: number; body: any }> {
  const result = await fetchFromPage(page, `${serverUrl}/api/auth/login`, {
    method: "POST",
    json: { email, password },
  });
  if ("error" in result) throw new Error(`sign-in from ${page.url()} failed: ${result.error}`);
  return result;
}

const SCREENSHOTS = join(import.meta.dir, "..", "browser", "screenshots");

/** Saves a screenshot under tests/browser/screenshots/ (git-ignored), for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/**
 * Records the `Cookie` header Chromium really sends with each request to `url` from `page`, read
 * from the DevTools protocol: Playwright does not report it for an opaque (no-cors) fetch.
 */
export async function cookiesSentTo(page: Page, url: string): Promise<() => string[]> {
  const cdp = await page.context().newCDPSession(page);
  const ids = new Set<string>();
  const cookies = new Map<string, string>();
  cdp.on("Network.requestWillBeSent", (event) => {
    if (event.request.url === url) ids.add(event.requestId);
  });
  cdp.on("Network.requestWillBeSentExtraInfo", (event) => {
    const header = Object.entries(event.headers).find(([name]) => name.toLowerCase() === "cookie");
    cookies.set(event.requestId, String(header?.[1] ?? ""));
  });
  await cdp.send("Network.enable");
  return () => [...ids].map((id) => cookies.get(id) ?? "");
}
