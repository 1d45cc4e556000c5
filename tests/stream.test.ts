import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jwtVerify } from "jose";
import { CALL_TYPE, CHANNEL_TYPE, StreamService } from "../src/modules/stream/service.ts";
import { createLogger } from "../src/plugins/logger.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { clerkKeys, sessionToken } from "./support/fake-clerk.ts";
import { type FakeStream, fakeStream } from "./support/fake-stream.ts";
import { registerUser } from "./support/users.ts";

let stream: FakeStream;
let server: TestApp;

beforeAll(async () => {
  stream = fakeStream();
  server = await startTestApp(stream.env);
});
afterAll(async () => {
  await server.stop();
  await stream.stop();
});

async function verifyUserToken(token: string) {
  const { payload, protectedHeader } = await jwtVerify(
    token,
    new TextEncoder().encode(stream.apiSecret),
    {
      algorithms: ["HS256"],
    },
  );
  return { payload, protectedHeader };
}

describe("GET /api/chat/token", () => {
  test("upserts the Stream user, then returns a token for them", async () => {
    const user = await registerUser(server.api, "Streamer");
    const res = await server.api("/api/chat/token", { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      token: expect.any(String),
      userId: user.id,
      userName: "Streamer",
      userImage: "",
      apiKey: stream.apiKey,
    });
    const { payload } = await verifyUserToken(res.body.token);
    expect(payload.user_id).toBe(user.id);
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000);
    expect(stream.users.get(user.id)).toMatchObject({ id: user.id, name: "Streamer" });
    // The SDK authenticated as the server, with the right key (the fake refuses anything else).
    expect(stream.refused).toEqual([]);
  });

  test("POST /api/auth/stream-token is the same thing", async () => {
    const user = await registerUser(server.api, "Alias");
    const res = await server.api("/api/auth/stream-token", { method: "POST", token: user.token });
    expect(res.status).toBe(200);
    expect(res.body.userId).toBe(user.id);
    expect((await verifyUserToken(res.body.token)).payload.user_id).toBe(user.id);
  });

  test("a Clerk user's Stream id is their Clerk id", async () => {
    const keys = await clerkKeys();
    const clerkServer = await startTestApp({ CLERK_JWT_KEY: keys.publicPem, ...stream.env });
    try {
      const clerkId = `user_${crypto.randomUUID().slice(0, 12)}`;
      const token = await sessionToken(keys, clerkId, {
        claims: { name: "Clerk Streamer", image_url: "https://img/c" },
      });
      const res = await clerkServer.api("/api/chat/token", { token });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        userId: clerkId,
        userName: "Clerk Streamer",
        userImage: "https://img/c",
      });
      expect((await verifyUserToken(res.body.token)).payload.user_id).toBe(clerkId);
      expect(stream.users.get(clerkId)).toMatchObject({
        name: "Clerk Streamer",
        image: "https://img/c",
      });
    } finally {
      await clerkServer.stop();
    }
  });

  test("a Stream failure → 502 UPSTREAM, without Stream's words, and no token", async () => {
    const user = await registerUser(server.api, "Unlucky");
    stream.failNext("POST /users");
    const res = await server.api("/api/chat/token", { token: user.token });
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ message: expect.any(String), code: "UPSTREAM" });
    expect(JSON.stringify(res.body)).not.toContain("injected failure");
  });

  test("no token → 401", async () => {
    expect((await server.api("/api/chat/token")).status).toBe(401);
  });
});

describe("with Stream off", () => {
  let plain: TestApp;
  beforeAll(async () => {
    plain = await startTestApp();
  });
  afterAll(async () => {
    await plain.stop();
  });

  test("both token routes → 503 STREAM_DISABLED", async () => {
    const user = await registerUser(plain.api, "No Stream");
    for (const [path, method] of [
      ["/api/chat/token", "GET"],
      ["/api/auth/stream-token", "POST"],
    ] as const) {
      const res = await plain.api(path, { method, token: user.token });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ message: expect.any(String), code: "STREAM_DISABLED" });
    }
  });
});

describe("the Stream service (what sessions build on)", () => {
  let service: StreamService;
  beforeAll(() => {
    service = new StreamService(
      { apiKey: stream.apiKey, apiSecret: stream.apiSecret, baseUrl: stream.url },
      createLogger("silent"),
    );
  });

  test("creates and deletes a video call", async () => {
    const callId = crypto.randomUUID();
    await service.createCall(callId, "host-1", { problem: "Two Sum" });
    expect(stream.videoCalls.get(`${CALL_TYPE}:${callId}`)).toMatchObject({
      created_by_id: "host-1",
      custom: { problem: "Two Sum" },
    });
    await service.createCall(callId, "host-1");
    expect(stream.callsTo(`POST /api/v2/video/call/${CALL_TYPE}/${callId}`)).toHaveLength(2);
    await service.deleteCall(callId);
    expect(stream.videoCalls.has(`${CALL_TYPE}:${callId}`)).toBe(false);
  });

  test("creates a channel, adds and removes members, deletes it", async () => {
    const id = crypto.randomUUID();
    const cid = `${CHANNEL_TYPE}:${id}`;
    await service.createChannel(id, "host-1", { name: "Interview" });
    expect(stream.channels.get(cid)?.created_by_id).toBe("host-1");
    expect([...stream.channels.get(cid)!.members]).toEqual(["host-1"]);
    await service.addChannelMembers(id, ["guest-1"]);
    expect([...stream.channels.get(cid)!.members].sort()).toEqual(["guest-1", "host-1"]);
    await service.removeChannelMembers(id, ["guest-1"]);
    expect([...stream.channels.get(cid)!.members]).toEqual(["host-1"]);
    await service.deleteChannel(id);
    expect(stream.channels.has(cid)).toBe(false);
  });

  test("upserts and deletes users", async () => {
    await service.upsertUsers([
      { id: "svc-a", name: "A" },
      { id: "svc-b", name: "B", image: "https://img/b" },
    ]);
    expect(stream.users.get("svc-b")).toMatchObject({ name: "B", image: "https://img/b" });
    await service.deleteUsers(["svc-a", "svc-b"]);
    expect(stream.users.has("svc-a")).toBe(false);
    expect(stream.users.has("svc-b")).toBe(false);
  });

  test("every failure is an UpstreamError (502), and an injected failure hits only its match", async () => {
    const id = crypto.randomUUID();
    stream.failNext(`POST /api/v2/chat/channels/${CHANNEL_TYPE}/${id}/query`);
    await expect(service.createChannel(id, "host-1")).rejects.toMatchObject({
      status: 502,
      code: "UPSTREAM",
    });
    expect(stream.channels.has(`${CHANNEL_TYPE}:${id}`)).toBe(false);
    await service.createChannel(id, "host-1");
    expect(stream.channels.has(`${CHANNEL_TYPE}:${id}`)).toBe(true);

    stream.failNext((call) => call.method === "DELETE");
    await expect(service.deleteChannel(id)).rejects.toMatchObject({ status: 502 });
    expect(stream.channels.has(`${CHANNEL_TYPE}:${id}`)).toBe(true);
    await expect(service.deleteCall("never-created")).rejects.toMatchObject({ code: "UPSTREAM" });
  });

  test("a wrong API secret is refused by Stream → 502", async () => {
    const wrong = new StreamService(
      { apiKey: stream.apiKey, apiSecret: "not-the-secret", baseUrl: stream.url },
      createLogger("silent"),
    );
    const before = stream.refused.length;
    await expect(wrong.upsertUsers([{ id: "x", name: "X" }])).rejects.toMatchObject({
      status: 502,
    });
    await expect(wrong.createCall("c", "x")).rejects.toMatchObject({ status: 502 });
    expect(stream.refused.length).toBe(before + 2);
    expect(stream.refused.at(-1)!.reason).toBe("bad token");
  });
});
