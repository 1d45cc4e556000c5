import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startTestApp, type TestApp } from "../support/app.ts";
import {
  autoSubmittingForm,
  BROWSER_TIMEOUT_MS,
  cookiesSentTo,
  describeInChromium,
  fetchFromPage,
  launchChromium,
  type PageServer,
  screenshot,
  servePages,
  signInFromPage,
  socketFromPage,
} from "../support/browser.ts";
import { chatBetween, registerUser, type TestUser } from "../support/users.ts";

/** The password `registerUser` gives every account. */
const PASSWORD = "correct horse battery";

/** Every encoding an HTML form can send, none of them JSON: [how a test names it, enctype]. */
const FORMS: [string, string][] = [
  ["a URL-encoded", "application/x-www-form-urlencoded"],
  ["a multipart", "multipart/form-data"],
  ["a text/plain", "text/plain"],
];

/**
 * A form's fields that carry `body`. For text/plain the one field's name and value join, with `=`,
 * into a JSON document: the classic way a form forges a JSON body (under the wrong content type).
 */
function formFields(enctype: string, body: Record<string, string>): Record<string, string> {
  if (enctype !== "text/plain") return body;
  return { [`${JSON.stringify(body).slice(0, -1)},"padding":"`]: '"}' };
}

/**
 * What a browser does with the cookie across origins, in real Chromium. The server is on
 * 127.0.0.1; `web` (in CORS_ORIGINS) and `foreign` (not) are pages on two other ports of it. All
 * three are the same *site*, so the SameSite=Lax cookie rides along on every request from the
 * foreign page, fetch and form alike: only CORS and the server's Origin check stand in the way.
 */
describeInChromium("the cookie across origins", () => {
  let browser: Browser;
  let web: PageServer;
  let foreign: PageServer;
  let server: TestApp;
  let ada: TestUser;
  let bob: TestUser;
  let chatId: string;
  /** Ada's browser, signed in through a page on `web`: the cookie is in it. */
  let adas: BrowserContext;

  beforeAll(async () => {
    web = servePages();
    foreign = servePages();
    [browser, server] = await Promise.all([
      launchChromium(),
      startTestApp({ CORS_ORIGINS: web.origin }),
    ]);
    [ada, bob] = await Promise.all([
      registerUser(server.api, "Ada"),
      registerUser(server.api, "Bob"),
    ]);
    chatId = await chatBetween(server.api, ada, bob);
    adas = await browser.newContext();
    adas.setDefaultTimeout(10_000);
    const page = await pageOn(adas, web);
    const login = await signInFromPage(page, server.url, ada.email, PASSWORD);
    if (login.status !== 200) throw new Error(`sign-in: ${login.status}`);
    await page.close();
  }, BROWSER_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    web?.stop();
    foreign?.stop();
  });

  async function pageOn(context: BrowserContext, site: PageServer): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${site.origin}/`);
    return page;
  }

  /** The texts of the chat's messages, read by Bob with a Bearer token. */
  async function storedTexts(): Promise<string[]> {
    const res = await server.api(`/api/messages/chat/${chatId}?limit=100`, { token: bob.token });
    expect(res.status).toBe(200);
    return res.body.messages.map((m: { text: string }) => m.text);
  }

  /** The problems of the active sessions, read with a Bearer token. */
  async function activeProblems(): Promise<string[]> {
    const res = await server.api("/api/sessions/active", { token: bob.token });
    expect(res.status).toBe(200);
    return res.body.sessions.map((s: { problem: string }) => s.problem);
  }

  describe("CORS", () => {
    test(
      "a page on an allowed origin creates, edits and deletes a session with the cookie (preflighted)",
      async () => {
        const page = await pageOn(adas, web);
        const sessions = `${server.url}/api/sessions`;

        const created = await fetchFromPage(page, sessions, {
          method: "POST",
          json: { problem: "Two sum", difficulty: "easy" },
        });
        expect(created).toMatchObject({ status: 201, body: { session: { problem: "Two sum" } } });
        const id: string = (created as { body: any }).body.session._id;
        const edited = await fetchFromPage(page, `${sessions}/${id}`, {
          method: "PATCH",
          json: { problem: "Three sum" },
        });

        expect(edited).toMatchObject({ status: 200, body: { session: { problem: "Three sum" } } });
        const stored = await server.api(`/api/sessions/${id}`, { token: bob.token });
        expect(stored.body.session.problem).toBe("Three sum");

        const deleted = await fetchFromPage(page, `${sessions}/${id}`, { method: "DELETE" });

        expect(deleted).toMatchObject({ status: 204 });
        expect((await server.api(`/api/sessions/${id}`, { token: bob.token })).status).toBe(404);
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test(
      "a page on an allowed origin posts a message with the cookie",
      async () => {
        const page = await pageOn(adas, web);

        const sent = await fetchFromPage(page, `${server.url}/api/messages/chat/${chatId}`, {
          method: "POST",
          json: { text: "hello from the web client" },
        });

        expect(sent).toMatchObject({ status: 201, body: { message: { seq: expect.any(Number) } } });
        expect(await storedTexts()).toContain("hello from the web client");
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test(
      "from a foreign origin the preflight fails: PATCH, DELETE and a JSON POST never happen",
      async () => {
        const created = await server.api("/api/sessions", {
          method: "POST",
          token: ada.token,
          body: { problem: "Untouched", difficulty: "medium" },
        });
        const id: string = created.body.session._id;
        const page = await pageOn(adas, foreign);
        const sessionUrl = `${server.url}/api/sessions/${id}`;

        const edit = await fetchFromPage(page, sessionUrl, {
          method: "PATCH",
          json: { problem: "Hijacked" },
        });
        const remove = await fetchFromPage(page, sessionUrl, { method: "DELETE" });
        const post = await fetchFromPage(page, `${server.url}/api/messages/chat/${chatId}`, {
          method: "POST",
          json: { text: "posted by a foreign page" },
        });

        for (const result of [edit, remove, post]) {
          expect(result).toEqual({ error: expect.stringContaining("Failed to fetch") });
        }
        const stored = await server.api(`/api/sessions/${id}`, { token: bob.token });
        expect(stored).toMatchObject({ status: 200, body: { session: { problem: "Untouched" } } });
        expect(await storedTexts()).not.toContain("posted by a foreign page");
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test(
      "a foreign origin cannot read a response, with the cookie or with a Bearer header",
      async () => {
        const page = await pageOn(adas, foreign);
        const me = `${server.url}/api/auth/me`;

        const withCookie = await fetchFromPage(page, me);
        const withBearer = await fetchFromPage(page, me, {
          credentials: "omit",
          headers: { authorization: `Bearer ${ada.token}` },
        });

        expect(withCookie).toEqual({ error: expect.stringContaining("Failed to fetch") });
        expect(withBearer).toEqual({ error: expect.stringContaining("Failed to fetch") });
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );
  });

  describe("cross-site request forgery: forms and simple requests are refused", () => {
    /**
     * Loads a page on `site` that auto-submits a form to `action`; resolves with the server's answer
     * and what the browser sent with it.
     */
    async function submitForm(
      context: BrowserContext,
      site: PageServer,
      action: string,
      enctype: string,
      body: Record<string, string>,
    ) {
      const page = await context.newPage();
      const path = `/form-${crypto.randomUUID()}`;
      site.page(path, autoSubmittingForm(action, enctype, formFields(enctype, body)));
      const answered = page.waitForResponse(
        (r) => r.url() === action && r.request().method() === "POST",
      );
      await page.goto(site.origin + path, { waitUntil: "commit" });
      const response = await answered;
      const sent = {
        status: response.status(),
        cookie: (await response.request().headerValue("cookie")) ?? "",
        origin: await response.request().headerValue("origin"),
      };
      return { page, ...sent };
    }

    test.each(FORMS)(
      "%s form on a foreign origin cannot post a message with the cookie",
      async (_name, enctype) => {
        const text = `forged ${enctype} message`;
        const action = `${server.url}/api/messages/chat/${chatId}`;

        const form = await submitForm(adas, foreign, action, enctype, { text });

        // The browser did send the cookie, from the foreign origin: the server must refuse.
        expect(form.cookie).toContain("token=");
        expect(form.origin).toBe(foreign.origin);
        expect([403, 415]).toContain(form.status);
        expect(await storedTexts()).not.toContain(text);
        if (enctype === FORMS[0]![1]) await screenshot(form.page, "csrf-message-form");
        await form.page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test.each(FORMS)(
      "%s form on a foreign origin cannot open a session with the cookie",
      async (_name, enctype) => {
        const problem = `forged ${enctype} session`;

        const form = await submitForm(adas, foreign, `${server.url}/api/sessions`, enctype, {
          problem,
          difficulty: "easy",
        });

        expect(form.cookie).toContain("token=");
        expect([403, 415]).toContain(form.status);
        expect(await activeProblems()).not.toContain(problem);
        await form.page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test.each(FORMS)(
      "%s login form on a foreign origin cannot sign the browser in (login forgery)",
      async (_name, enctype) => {
        // The forger signs the visitor into the forger's own account, to read what they do next.
        const mallory = await registerUser(server.api, "Mallory");
        const visitor = await browser.newContext();
        visitor.setDefaultTimeout(10_000);

        const form = await submitForm(visitor, foreign, `${server.url}/api/auth/login`, enctype, {
          email: mallory.email,
          password: PASSWORD,
        });

        expect([403, 415]).toContain(form.status);
        expect(await visitor.cookies(server.url)).toEqual([]);
        await visitor.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test(
      "a form on the allowed origin is refused too (415): only JSON bodies are read",
      async () => {
        const text = "a form from the web client's own origin";
        const action = `${server.url}/api/messages/chat/${chatId}`;

        const form = await submitForm(adas, web, action, FORMS[0]![1], { text });

        expect(form.cookie).toContain("token=");
        expect(form.status).toBe(415);
        expect(await storedTexts()).not.toContain(text);
        await form.page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test(
      "a no-cors text/plain fetch from a foreign origin reaches the server with the cookie and is refused",
      async () => {
        // No preflight for a "simple" request: the browser sends it and only hides the answer.
        const text = "forged by a simple request";
        const action = `${server.url}/api/messages/chat/${chatId}`;
        const page = await pageOn(adas, foreign);
        const answered = page.waitForResponse((r) => r.url() === action);
        const cookiesSent = await cookiesSentTo(page, action);

        const result = await fetchFromPage(page, action, {
          method: "POST",
          mode: "no-cors",
          headers: { "content-type": "text/plain" },
          body: JSON.stringify({ text }),
        });

        const response = await answered;
        expect(result).toEqual({ status: 0, body: "" }); // opaque to the page
        expect(cookiesSent()).toEqual([expect.stringContaining("token=")]);
        expect([403, 415]).toContain(response.status());
        expect(await storedTexts()).not.toContain(text);
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );
  });

  describe("a WebSocket with the cookie", () => {
    test(
      "opens from a page on an allowed origin and gets online-users",
      async () => {
        const page = await pageOn(adas, web);

        const socket = await socketFromPage(page, `${server.url.replace("http", "ws")}/ws`);

        expect(socket).toMatchObject({ opened: true, firstEvent: "online-users" });
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );

    test(
      "never opens from a page on a foreign origin",
      async () => {
        const page = await pageOn(adas, foreign);

        const socket = await socketFromPage(page, `${server.url.replace("http", "ws")}/ws`);

        expect(socket.opened).toBe(false);
        expect(socket.firstEvent).toBeUndefined();
        expect(socket.closeCode).toBe(1006); // how a browser reports a refused upgrade
        await page.close();
      },
      BROWSER_TIMEOUT_MS,
    );
  });
});
