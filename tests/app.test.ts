import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { treaty } from "@elysiajs/eden";
import type { App } from "../src/app.ts";
import { startTestApp, type TestApp } from "./support/app.ts";

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

describe("health and readiness", () => {
  test("GET /health answers ok without touching the database", async () => {
    const res = await server.api("/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  test("GET /ready answers 200 while the database answers a ping", async () => {
    const res = await server.api("/ready");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ready" });
  });

  test("the app is callable through Eden Treaty with its exported type", async () => {
    const client = treaty<App>(server.url);
    const { data, status } = await client.health.get();
    expect(status).toBe(200);
    expect(data?.status).toBe("ok");
  });
});

describe("docs", () => {
  test("/swagger serves the UI and /swagger/json the OpenAPI document", async () => {
    const ui = await server.api("/swagger");
    expect(ui.status).toBe(200);
    expect(ui.headers.get("content-type")).toContain("text/html");
    const spec = await server.api("/swagger/json");
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toStartWith("3.");
    expect(Object.keys(spec.body.paths)).toContain("/health");
  });
});

describe("errors have the contract's shape", () => {
  test("an unknown route → 404 NOT_FOUND as JSON", async () => {
    const res = await server.api("/api/no-such-thing");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ message: expect.any(String), code: "NOT_FOUND" });
  });

  test("malformed JSON → 400 VALIDATION", async () => {
    const res = await server.api("/api/auth/login", { method: "POST", rawBody: '{"email": ' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("VALIDATION");
    expect(res.body.message).toBeString();
    expect(JSON.stringify(res.body)).not.toContain("at ");
  });

  test("a body over 1 MiB with a Content-Length → 413 PAYLOAD_TOO_LARGE", async () => {
    const res = await server.api("/api/auth/login", {
      method: "POST",
      rawBody: JSON.stringify({ email: "a@b.c", password: "x".repeat(1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ message: expect.any(String), code: "PAYLOAD_TOO_LARGE" });
  });

  test("a chunked body that grows past 1 MiB → 413 PAYLOAD_TOO_LARGE", async () => {
    const chunk = new TextEncoder().encode(`"${"y".repeat(400_000)}`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 4) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${server.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", connection: "close" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe("PAYLOAD_TOO_LARGE");
  });

  test("the process keeps serving after bad input", async () => {
    expect((await server.api("/health")).status).toBe(200);
  });
});

describe("cross-cutting headers", () => {
  test("x-request-id is echoed when sane and made up otherwise", async () => {
    const echoed = await server.api("/health", { headers: { "x-request-id": "trace-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-123");
    const made = await server.api("/health", { headers: { "x-request-id": "bad id with spaces" } });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("security headers are on every response, errors included", async () => {
    for (const path of ["/health", "/nope"]) {
      const res = await server.api(path);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("strict-transport-security")).toBeNull();
    }
  });

  test("CORS allows the configured origins and no others", async () => {
    const preflight = (origin: string) =>
      server.api("/api/auth/login", {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,authorization",
        },
      });
    const allowed = await preflight("http://localhost:5173");
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    const other = await preflight("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example");
  });
});

describe("production settings", () => {
  test("HSTS is sent in production", async () => {
    const prod = await startTestApp({
      NODE_ENV: "production",
      MONGODB_URI: "mongodb://unused.invalid",
      JWT_SECRET: "a".repeat(40),
    });
    try {
      const res = await prod.api("/health");
      expect(res.headers.get("strict-transport-security")).toContain("max-age=");
    } finally {
      await prod.stop();
    }
  });
});

describe("readiness follows the database", () => {
  test("GET /ready → 503 once the database is gone", async () => {
    const other = await startTestApp();
    await other.db.connection.close();
    const res = await other.api("/ready");
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("UNAVAILABLE");
    expect((await other.api("/health")).status).toBe(200);
    await other.stop();
  });
});
