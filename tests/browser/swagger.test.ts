import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { startTestApp, type TestApp } from "../support/app.ts";
import {
  BROWSER_TIMEOUT_MS,
  blockAllBut,
  describeInChromium,
  launchChromium,
  screenshot,
} from "../support/browser.ts";

/** The contract: the docs UI works with no internet, its assets served by this server. */
describeInChromium("/swagger with no internet", () => {
  let browser: Browser;
  let server: TestApp;

  beforeAll(async () => {
    [browser, server] = await Promise.all([launchChromium(), startTestApp()]);
  }, BROWSER_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  test(
    "renders the API's title and routes, and asks nothing of any other host",
    async () => {
      const context = await browser.newContext();
      context.setDefaultTimeout(10_000);
      const blocked = await blockAllBut(context, [server.url]);
      const page = await context.newPage();

      await page.goto(`${server.url}/swagger`);

      // The title, then a route's summary once its tag is opened: the UI's script runs.
      const rendered = await page
        .getByText("Interview chat server")
        .first()
        .waitFor({ state: "visible" })
        .then(() => page.getByText("auth", { exact: true }).first().click())
        .then(() => page.getByText("Sign in with email and password").first().waitFor())
        .then(
          () => true,
          () => false,
        );
      await screenshot(page, "swagger");
      // Together, so a failure shows what the page tried to fetch from elsewhere.
      expect({ rendered, blocked }).toEqual({ rendered: true, blocked: [] });
      await context.close();
    },
    BROWSER_TIMEOUT_MS,
  );
});
