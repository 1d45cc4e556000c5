import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { startTestApp, type TestApp } from "../support/app.ts";
import {
  BROWSER_TIMEOUT_MS,
  describeInChromium,
  fetchFromPage,
  launchChromium,
  type PageServer,
  servePages,
  signInFromPage,
} from "../support/browser.ts";
import { registerUser } from "../support/users.ts";

/** The password `registerUser` gives every account. */
const PASSWORD = "correct horse battery";

/**
 * The web client's sign-in, in real Chromium: a page on another port of 127.0.0.1 (another origin,
 * the same site) signs in with `fetch(..., { credentials: "include" })` and from then on relies on
 * the httpOnly `token` cookie alone.
 */
describeInChromium("cookie sign-in from a page on another origin", () => {
  let browser: Browser;
  let web: PageServer;
  /** A different site altogether: `localhost`, where the server is on `127.0.0.1`. */
  let otherSite: string;
  let server: TestApp;

  beforeAll(async () => {
    web = servePages();
    otherSite = web.origin.replace("127.0.0.1", "localhost");
    [browser, server] = await Promise.all([
      launchChromium(),
      startTestApp({ CORS_ORIGINS: `${web.origin},${otherSite}` }),
    ]);
  }, BROWSER_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.stop();
  });

  /** A fresh browser context (no cookies; closed with the browser) with a page open on `origin`. */
  async function pageOn(origin: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return page;
  }

  test(
    "a page signs in with fetch, and the cookie alone then authenticates it",
    async () => {
      const ada = await registerUser(server.api, "Ada");
      const page = await pageOn(web.origin);

      const login = await signInFromPage(page, server.url, ada.email, PASSWORD);
      const me = await fetchFromPage(page, `${server.url}/api/auth/me`);

      expect(login.status).toBe(200);
      expect(me).toEqual({ status: 200, body: { user: expect.objectContaining({ _id: ada.id }) } });
      const cookies = await page.context().cookies(server.url);
      expect(cookies).toEqual([
        expect.objectContaining({ name: "token", httpOnly: true, sameSite: "Lax" }),
      ]);
      // httpOnly: the page's own script never sees the token.
      expect(await page.evaluate("document.cookie")).toBe("");
    },
    BROWSER_TIMEOUT_MS,
  );

  test(
    "from another site (localhost vs 127.0.0.1) the Lax cookie is neither kept nor sent",
    async () => {
      // Chromium drops a SameSite=Lax Set-Cookie on a cross-site fetch's response: a client served
      // from another site must send the token as a Bearer header instead.
      const ada = await registerUser(server.api, "Ada");
      const page = await pageOn(otherSite);

      const login = await signInFromPage(page, server.url, ada.email, PASSWORD);
      const me = await fetchFromPage(page, `${server.url}/api/auth/me`);

      expect(login.status).toBe(200);
      expect(await page.context().cookies(server.url)).toEqual([]);
      expect(me).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
    },
    BROWSER_TIMEOUT_MS,
  );

  test(
    "logout from the page revokes the token: a Bearer call gets 401 and its open socket closes with 1008",
    async () => {
      const ada = await registerUser(server.api, "Ada");
      const page = await pageOn(web.origin);
      const login = await signInFromPage(page, server.url, ada.email, PASSWORD);
      const token: string = login.body.token;
      const socket = await server.socket(token);
      await socket.next("online-users");

      const logout = await fetchFromPage(page, `${server.url}/api/auth/logout`, { method: "POST" });

      expect(logout).toMatchObject({ status: 204 });
      expect(await socket.closed()).toBe(1008);
      const bearer = await server.api("/api/auth/me", { token });
      expect(bearer).toMatchObject({ status: 401, body: { code: "UNAUTHORIZED" } });
      const cookie = await fetchFromPage(page, `${server.url}/api/auth/me`);
      expect(cookie).toMatchObject({ status: 401 });
      // Only that sign-in ends: the one from registering still works.
      expect((await server.api("/api/auth/me", { token: ada.token })).status).toBe(200);
    },
    BROWSER_TIMEOUT_MS,
  );

  test(
    "logout-all from one browser revokes the sign-ins of the user's other browsers",
    async () => {
      const ada = await registerUser(server.api, "Ada");
      const laptop = await pageOn(web.origin);
      const phone = await pageOn(web.origin);
      const onLaptop: string = (await signInFromPage(laptop, server.url, ada.email, PASSWORD)).body
        .token;
      await signInFromPage(phone, server.url, ada.email, PASSWORD);

      const logoutAll = await fetchFromPage(laptop, `${server.url}/api/auth/logout-all`, {
        method: "POST",
      });

      expect(logoutAll).toMatchObject({ status: 204 });
      expect(await fetchFromPage(phone, `${server.url}/api/auth/me`)).toMatchObject({
        status: 401,
      });
      for (const token of [onLaptop, ada.token]) {
        expect((await server.api("/api/auth/me", { token })).status).toBe(401);
      }
    },
    BROWSER_TIMEOUT_MS,
  );
});
