import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import packageJson from "../package.json";
import { startTestApp, type TestApp } from "./support/app.ts";

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

const PINNED = packageJson.dependencies["@scalar/api-reference"];

/** Every `src=` and `href=` in a page. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((match) => match[1]!);
}

describe("the API reference works without the internet", () => {
  test("Scalar's version is pinned exactly", () => {
    expect(PINNED).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test("GET /swagger names only addresses on this server", async () => {
    const page = await server.api<string>("/swagger");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const refs = references(page.body);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref).not.toMatch(/^[a-z][a-z0-9+.-]*:|^\/\//i);
      expect(new URL(ref, `${server.url}/swagger`).origin).toBe(server.url);
    }
    // Nothing else reaches out either: no absolute URL anywhere (fonts, stylesheets, imports).
    expect(page.body).not.toMatch(/https?:\/\//);
    expect(page.body).toContain('"withDefaultFonts":false');
  });

  test("the script it names is the pinned Scalar bundle, cached for good", async () => {
    const page = await server.api<string>("/swagger");
    const scripts = [...page.body.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const url = new URL(scripts[0]!, `${server.url}/swagger`);
    expect(url.pathname).toBe(`/swagger/assets/api-reference-${PINNED}.js`);

    const script = await fetch(url);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const source = await script.text();
    expect(source).toContain(`@scalar/api-reference@${PINNED}`);
  });
});

describe("the OpenAPI document", () => {
  interface Operation {
    parameters?: unknown[];
    requestBody?: unknown;
    responses: Record<string, { content?: Record<string, { schema: { required?: string[] } }> }>;
  }
  const operations = async () => {
    const spec = await server.api<{ paths: Record<string, Record<string, Operation>> }>(
      "/swagger/json",
    );
    expect(spec.status).toBe(200);
    return Object.entries(spec.body.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ name: `${method} ${path}`, path, op })),
    );
  };

  test("/swagger/json still lists the routes", async () => {
    const names = (await operations()).map((o) => o.name);
    for (const route of [
      "get /health",
      "post /api/auth/login",
      "get /api/users/{id}",
      "post /api/chats/with/{participantId}",
      "post /api/messages/chat/{chatId}",
      "post /api/sessions/{id}/join",
    ]) {
      expect(names).toContain(route);
    }
  });

  test("error responses carry the one error shape", async () => {
    const ops = await operations();
    const user = ops.find((o) => o.name === "get /api/users/{id}")!.op;
    expect(Object.keys(user.responses).sort()).toEqual(["200", "400", "401", "404", "503"]);
    const notFound = user.responses["404"]!.content!["application/json"]!.schema;
    expect(notFound.required).toEqual(["message", "code"]);
  });

  test("every route under /api declares 503, and 400 when it takes input, 415 with a body", async () => {
    for (const { name, path, op } of await operations()) {
      if (!path.startsWith("/api/")) continue;
      const statuses = Object.keys(op.responses);
      expect({ name, has503: statuses.includes("503") }).toEqual({ name, has503: true });
      if (op.parameters?.length || op.requestBody) {
        expect({ name, has400: statuses.includes("400") }).toEqual({ name, has400: true });
      }
      if (op.requestBody) {
        expect({ name, has415: statuses.includes("415") }).toEqual({ name, has415: true });
      }
    }
  });
});

describe("declared errors still leave whole", () => {
  test("a 400 keeps its errors and a 429 its retryAfter", async () => {
    const invalid = await server.api("/api/auth/login", { body: { email: "x" } });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({
      message: expect.any(String),
      code: "VALIDATION",
      errors: [{ path: "password", message: expect.any(String) }],
    });

    const attempt = () =>
      server.api("/api/auth/login", {
        body: { email: "nobody@example.com", password: "wrong-one" },
      });
    let last = await attempt();
    for (let i = 0; i < 20 && last.status !== 429; i++) last = await attempt();
    expect(last.status).toBe(429);
    expect(last.body).toEqual({
      message: expect.any(String),
      code: "RATE_LIMITED",
      retryAfter: expect.any(Number),
    });
  });
});

describe("CORS", () => {
  test("a preflight's answer may be reused for ten minutes", async () => {
    const preflight = await server.api("/api/auth/login", {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:5173",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("access-control-max-age")).toBe("600");
  });
});
