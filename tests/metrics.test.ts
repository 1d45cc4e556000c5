import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import { canScaleOut, type TwoInstances, twoInstances } from "./support/cluster.ts";
import { chatBetween, registerUser } from "./support/users.ts";

/** One sample's value from Prometheus text, by its name and labels as written; NaN when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : Number.NaN;
}

async function scrape(app: { url: string }, token?: string) {
  const res = await fetch(`${app.url}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

describe("GET /metrics, open", () => {
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp();
  });
  afterAll(async () => {
    await server.stop();
  });

  test("counts sockets, stored messages, send latency, fan-out and requests by route pattern", async () => {
    const before = await scrape(server);
    expect(before.status).toBe(200);
    expect(before.type).toContain("text/plain");
    expect(before.type).toContain("version=0.0.4");
    expect(sample(before.text, "chat_database_up")).toBe(1);
    // No Redis configured: no Redis gauge to mislead.
    expect(before.text).not.toContain("chat_redis_up");
    expect(sample(before.text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(sample(before.text, "process_cpu_seconds_total")).toBeGreaterThan(0);

    const [ada, bob] = await Promise.all([registerUser(server.api), registerUser(server.api)]);
    const chatId = await chatBetween(server.api, ada, bob);
    const adaSocket = await server.socket(ada.token);
    const bobSocket = await server.socket(bob.token);
    await Promise.all([adaSocket.next("online-users"), bobSocket.next("online-users")]);
    adaSocket.send("send-message", { chatId, text: "over the socket", clientId: "m1" }, "1");
    await adaSocket.next("message-sent");
    const rest = await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: bob.token,
      body: { text: "over REST", clientId: "m2" },
    });
    expect(rest.status).toBe(201);
    // A resend stores nothing, so it counts nothing.
    await server.api(`/api/messages/chat/${chatId}`, {
      method: "POST",
      token: bob.token,
      body: { text: "over REST", clientId: "m2" },
    });
    await server.api(`/api/messages/chat/${chatId}?after=nope`, { token: bob.token });
    await server.api("/no/such/route");

    const after = await scrape(server);
    expect(sample(after.text, "chat_sockets_open")).toBe(2);
    expect(
      sample(after.text, "chat_messages_stored_total") -
        sample(before.text, "chat_messages_stored_total"),
    ).toBe(2);
    expect(sample(after.text, "chat_send_ack_seconds_count")).toBe(2);
    expect(sample(after.text, "chat_send_ack_seconds_sum")).toBeGreaterThan(0);
    // Each message went to two users' topics at least (and typing: false to the other).
    expect(sample(after.text, "chat_fanout_frames_total")).toBeGreaterThanOrEqual(4);
    const send = 'route="/api/messages/chat/:chatId"';
    expect(sample(after.text, `http_requests_total{method="POST",${send},status="201"}`)).toBe(1);
    expect(sample(after.text, `http_requests_total{method="POST",${send},status="200"}`)).toBe(1);
    expect(sample(after.text, `http_requests_total{method="GET",${send},status="400"}`)).toBe(1);
    expect(
      sample(after.text, 'http_requests_total{method="GET",route="unmatched",status="404"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(after.text).toContain('nodejs_eventloop_lag_seconds{quantile="0.99"}');
    // Route patterns, never the ids or tokens a path or query held.
    expect(after.text).not.toContain(chatId);
    expect(after.text).not.toContain(ada.token);

    await adaSocket.close();
    await bobSocket.close();
    for (let i = 0; i < 50; i++) {
      if (sample((await scrape(server)).text, "chat_sockets_open") === 0) break;
      await Bun.sleep(20);
    }
    expect(sample((await scrape(server)).text, "chat_sockets_open")).toBe(0);
  });
});

describe("GET /metrics with METRICS_TOKEN", () => {
  const token = "metrics-token-for-the-test";
  let server: TestApp;
  beforeAll(async () => {
    server = await startTestApp({ METRICS_TOKEN: token });
  });
  afterAll(async () => {
    await server.stop();
  });

  test("no token or a wrong one → 401 in the contract's shape; the right one → 200", async () => {
    const none = await fetch(`${server.url}/metrics`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: "UNAUTHORIZED" });
    expect((await scrape(server, `${token}x`)).status).toBe(401);
    expect((await scrape(server, token.slice(1))).status).toBe(401);
    const ok = await scrape(server, token);
    expect(ok.status).toBe(200);
    expect(sample(ok.text, "chat_database_up")).toBe(1);
    // A user's token is not a metrics token.
    const user = await registerUser(server.api);
    expect((await scrape(server, user.token)).status).toBe(401);
  });

  test("a token shorter than 16 characters stops the process at start", async () => {
    await expect(startTestApp({ METRICS_TOKEN: "short" })).rejects.toThrow(/METRICS_TOKEN/);
  });
});

describe.skipIf(!canScaleOut)("GET /metrics with Redis", () => {
  let cluster: TwoInstances;
  beforeAll(async () => {
    cluster = await twoInstances();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  test("chat_redis_up is 1 while both connections are up", async () => {
    expect(sample((await scrape(cluster.a)).text, "chat_redis_up")).toBe(1);
  });
});
