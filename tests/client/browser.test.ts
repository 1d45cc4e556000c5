import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { startTestApp, type TestApp } from "../support/app.ts";
import {
  BROWSER_TIMEOUT_MS,
  describeInChromium,
  launchChromium,
  type PageServer,
  servePages,
  signInFromPage,
} from "../support/browser.ts";
import { chatBetween, registerUser, type TestUser } from "../support/users.ts";

/**
 * The SDK as a web app ships it: bundled by `Bun.build` for the browser (Eden included), loaded
 * by a page on another origin of the same site, authenticated by the `token` cookie alone (the
 * browser sends it with the upgrade by itself; REST with `credentials: "include"`), with
 * `localStorage` as the outbox's storage. Two pages chat through it.
 */
const PASSWORD = "correct horse battery";

/** The client bundle with a global handle for the page's scripts. */
async function bundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "client-bundle-"));
  try {
    const entry = join(dir, "entry.ts");
    const sdk = resolve(import.meta.dir, "../../src/client/index.ts");
    writeFileSync(
      entry,
      `import { createClient } from ${JSON.stringify(sdk)};\n(globalThis as any).createClient = createClient;\n`,
    );
    const built = await Bun.build({ entrypoints: [entry], target: "browser", minify: true });
    if (!built.success) throw new Error(built.logs.join("\n"));
    return await built.outputs[0]!.text();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describeInChromium("the client SDK in Chromium", () => {
  let browser: Browser;
  let web: PageServer;
  let server: TestApp;
  let pageUrl: string;

  beforeAll(async () => {
    web = servePages();
    const script = await bundle();
    expect(script).not.toContain("</script");
    pageUrl = web.page(
      "/chat",
      `<!doctype html><meta charset=utf-8><title>chat</title><script>${script}</script>`,
    );
    [browser, server] = await Promise.all([
      launchChromium(),
      startTestApp({ CORS_ORIGINS: web.origin }),
    ]);
  }, BROWSER_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.stop();
  });

  /** A signed-in page running a client that follows `chatId`; returns the page. */
  async function chatPage(user: TestUser, chatId: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(pageUrl);
    expect((await signInFromPage(page, server.url, user.email, PASSWORD)).status).toBe(200);
    await page.evaluate(
      ({ baseUrl, chatId }) => {
        const w = globalThis as any;
        const client = w.createClient({ baseUrl, credentials: "include", storage: w.localStorage });
        const chat = client.chat(chatId);
        w.client = client;
        w.received = [];
        w.acked = [];
        chat.on("message", (m: { seq: number; text: string }) => w.received.push(m));
        w.send = (text: string) => chat.send(text).then((m: unknown) => w.acked.push(m));
      },
      { baseUrl: server.url, chatId },
    );
    await page.waitForFunction(() => (globalThis as any).client.status === "open");
    return page;
  }

  test(
    "two pages chat with cookie auth: each sees every message once, in order",
    async () => {
      const [alice, bob] = await Promise.all([
        registerUser(server.api, "Alice"),
        registerUser(server.api, "Bob"),
      ]);
      const chatId = await chatBetween(server.api, alice, bob);
      const [alicePage, bobPage] = await Promise.all([
        chatPage(alice, chatId),
        chatPage(bob, chatId),
      ]);

      await Promise.all([
        alicePage.evaluate(async () => {
          for (const text of ["one", "two", "three"])
            await (globalThis as any).send(`alice ${text}`);
        }),
        bobPage.evaluate(async () => {
          for (const text of ["one", "two"]) await (globalThis as any).send(`bob ${text}`);
        }),
      ]);
      for (const page of [alicePage, bobPage]) {
        await page.waitForFunction(() => (globalThis as any).received.length >= 5);
        const received: { seq: number; text: string }[] = await page.evaluate(
          () => (globalThis as any).received,
        );
        expect(received.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
        expect(received.map((m) => m.text).sort()).toEqual(
          ["alice one", "alice two", "alice three", "bob one", "bob two"].sort(),
        );
      }
      // Acknowledged sends leave nothing in localStorage; REST through Eden uses the cookie too.
      expect(await alicePage.evaluate(() => (globalThis as any).localStorage.length)).toBe(0);
      const chats = await alicePage.evaluate(async () => {
        const { data } = await (globalThis as any).client.api.api.chats.get();
        return data.chats.map((c: { _id: string; lastSeq: number }) => [c._id, c.lastSeq]);
      });
      expect(chats).toEqual([[chatId, 5]]);
    },
    BROWSER_TIMEOUT_MS,
  );
});
