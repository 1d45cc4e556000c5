import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  canScaleOut,
  spawnInstance,
  TEST_TIMING,
  type TwoInstances,
  twoInstances,
} from "./support/cluster.ts";
import type { Api } from "./support/http.ts";
import { eventually } from "./support/sessions.ts";
import { registerUser, type TestUser } from "./support/users.ts";
import type { TestSocket } from "./support/ws.ts";

/**
 * Call rooms: ad-hoc calls of 2–8 members, stored in the database, with their call on /ws
 * (`join-room`, `room-users`, `user-joined`, `user-left`, `room-left`, `room-closed`) and the same
 * `signal` and `toggle-media` relay as interview sessions.
 */
let server: TestApp;

beforeAll(async () => {
  server = await startTestApp();
});
afterAll(async () => {
  await server.stop();
});

/** Lets frames in flight arrive before a test asserts that something did not. */
const settle = () => Bun.sleep(150);

const events = (socket: TestSocket, event: string, match: (data: any) => boolean = () => true) =>
  socket.frames.filter((f) => f.event === event && match(f.data));

async function users(count: number, api: Api = server.api): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: count }, () => registerUser(api)));
}

async function createRoom(
  host: TestUser,
  body: { name?: string; capacity?: number } = {},
  api: Api = server.api,
): Promise<any> {
  const res = await api("/api/call/create-room", { token: host.token, body });
  if (res.status !== 201) throw new Error(`create-room: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.room;
}

function roomAction(
  user: TestUser,
  action: "join-room" | "leave-room",
  roomId: string,
  api: Api = server.api,
) {
  return api(`/api/call/${action}`, { token: user.token, body: { roomId } });
}

/** A room hosted by the first of `members`, joined by the others in order. */
async function roomWith(members: TestUser[], capacity = 4, api: Api = server.api) {
  const room = await createRoom(members[0]!, { capacity }, api);
  for (const member of members.slice(1)) {
    expect((await roomAction(member, "join-room", room.roomId, api)).status).toBe(200);
  }
  return room.roomId as string;
}

/** Opens a socket for `user` and joins the room's call with it; resolves with its room-users. */
async function inCall(
  user: TestUser,
  roomId: string,
  open: (token: string) => Promise<TestSocket> = (token) => server.socket(token),
): Promise<{ socket: TestSocket; users: { userId: string; name: string }[] }> {
  const socket = await open(user.token);
  socket.send("join-room", roomId, "jr");
  const frame = await socket.next("room-users");
  expect(frame.ref).toBe("jr");
  expect(frame.data.roomId).toBe(roomId);
  return { socket, users: frame.data.users };
}

describe("REST: create, read, join", () => {
  test("create: the caller is host and first member; name and capacity default", async () => {
    const [ada] = await users(1);
    const res = await server.api("/api/call/create-room", { token: ada!.token, body: {} });
    expect(res.status).toBe(201);
    const { room } = res.body;
    expect(room.roomId).toMatch(/^[0-9a-f]{16}$/);
    expect(room).toMatchObject({
      name: `${ada!.name}'s room`,
      host: { _id: ada!.id, name: ada!.name },
      members: [{ _id: ada!.id }],
      capacity: 4,
    });
    expect(new Date(room.createdAt).toISOString()).toBe(room.createdAt);
    expect(JSON.stringify(room)).not.toContain("password");

    const named = await createRoom(ada!, { name: "  Stand-up  ", capacity: 8 });
    expect(named).toMatchObject({ name: "Stand-up", capacity: 8 });
  });

  test("create: a capacity outside 2–8 or a blank name → 400 VALIDATION; no token → 401", async () => {
    const [ada] = await users(1);
    for (const body of [{ capacity: 1 }, { capacity: 9 }, { capacity: 2.5 }, { name: "   " }]) {
      const res = await server.api("/api/call/create-room", { token: ada!.token, body });
      expect({ body, status: res.status, code: res.body.code }).toEqual({
        body,
        status: 400,
        code: "VALIDATION",
      });
    }
    const anonymous = await server.api("/api/call/create-room", { body: {} });
    expect(anonymous.status).toBe(401);
  });

  test("GET: any signed-in user who has the id; unknown 404, malformed 400", async () => {
    const [host, stranger] = await users(2);
    const room = await createRoom(host!);
    const seen = await server.api(`/api/call/room/${room.roomId}`, { token: stranger!.token });
    expect(seen.status).toBe(200);
    expect(seen.body.room).toEqual(room);

    const unknown = await server.api("/api/call/room/0123456789abcdef", { token: host!.token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe("NOT_FOUND");
    const malformed = await server.api("/api/call/room/not-a-room", { token: host!.token });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("VALIDATION");
  });

  test("join: appended in order; again is a 200; unknown 404; full 409 ROOM_FULL", async () => {
    const [host, bob, cy, dee] = await users(4);
    const { roomId } = await createRoom(host!, { capacity: 3 });
    const joined = await roomAction(bob!, "join-room", roomId);
    expect(joined.status).toBe(200);
    expect(joined.body.room.members.map((m: any) => m._id)).toEqual([host!.id, bob!.id]);
    const again = await roomAction(bob!, "join-room", roomId);
    expect(again.status).toBe(200);
    expect(again.body.room.members.map((m: any) => m._id)).toEqual([host!.id, bob!.id]);

    expect((await roomAction(cy!, "join-room", roomId)).status).toBe(200);
    const full = await roomAction(dee!, "join-room", roomId);
    expect(full.status).toBe(409);
    expect(full.body.code).toBe("ROOM_FULL");
    // A member of a full room joining again is still a 200.
    expect((await roomAction(cy!, "join-room", roomId)).status).toBe(200);

    const unknown = await roomAction(dee!, "join-room", "0123456789abcdef");
    expect(unknown.status).toBe(404);
  });

  test("10 joins at once into a room for 4: exactly 3 win, the others get 409 ROOM_FULL", async () => {
    const [host, ...joiners] = await users(11);
    const { roomId } = await createRoom(host!, { capacity: 4 });
    const answers = await Promise.all(joiners.map((u) => roomAction(u, "join-room", roomId)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 200, ...Array(7).fill(409)]);
    for (const answer of answers.filter((a) => a.status === 409)) {
      expect(answer.body.code).toBe("ROOM_FULL");
    }
    const { body } = await server.api(`/api/call/room/${roomId}`, { token: host!.token });
    const winners = joiners.filter((_, i) => answers[i]!.status === 200).map((u) => u.id);
    expect(body.room.members).toHaveLength(4);
    expect(body.room.members[0]._id).toBe(host!.id);
    expect(
      body.room.members
        .slice(1)
        .map((m: any) => m._id)
        .sort(),
    ).toEqual(winners.sort());
  });

  test("the same user joining 5 times at once is one member", async () => {
    const [host, bob] = await users(2);
    const { roomId } = await createRoom(host!);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => roomAction(bob!, "join-room", roomId)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const { body } = await server.api(`/api/call/room/${roomId}`, { token: host!.token });
    expect(body.room.members.map((m: any) => m._id)).toEqual([host!.id, bob!.id]);
  });
});

describe("REST: leave, hand-over, close", () => {
  test("the host leaving hands the room to the longest-present member; members hear room-updated", async () => {
    const [host, bob, cy] = await users(3);
    const roomId = await roomWith([host!, bob!, cy!]);
    const bobSocket = await server.socket(bob!.token);
    await bobSocket.next("online-users");

    const left = await roomAction(host!, "leave-room", roomId);
    expect(left.status).toBe(200);
    expect(left.body.room.host._id).toBe(bob!.id);
    expect(left.body.room.members.map((m: any) => m._id)).toEqual([bob!.id, cy!.id]);
    const updated = await bobSocket.next("room-updated");
    expect(updated.data.room).toMatchObject({ roomId, host: { _id: bob!.id } });

    // A member who is not the host leaving changes nobody's role.
    const cyLeft = await roomAction(cy!, "leave-room", roomId);
    expect(cyLeft.body.room.members.map((m: any) => m._id)).toEqual([bob!.id]);
    // Leaving again (or a room one never joined) is a 200 with the room as it is.
    const again = await roomAction(cy!, "leave-room", roomId);
    expect(again.status).toBe(200);
    expect(again.body.room.members.map((m: any) => m._id)).toEqual([bob!.id]);
    await bobSocket.close();
  });

  test("the last one out closes it: room-closed, then 404 everywhere", async () => {
    const [host, bob] = await users(2);
    const roomId = await roomWith([host!, bob!]);
    expect((await roomAction(host!, "leave-room", roomId)).status).toBe(200);
    const bobSocket = await server.socket(bob!.token);
    await bobSocket.next("online-users");

    const last = await roomAction(bob!, "leave-room", roomId);
    expect(last.status).toBe(200);
    expect(last.body.room).toMatchObject({ roomId, members: [], host: { _id: bob!.id } });
    expect((await bobSocket.next("room-closed")).data).toEqual({ roomId });

    const gone = await server.api(`/api/call/room/${roomId}`, { token: bob!.token });
    expect(gone.status).toBe(404);
    const rejoin = await roomAction(host!, "join-room", roomId);
    expect(rejoin.status).toBe(404);
    await bobSocket.close();
  });

  test("everyone leaving at once: each leave is a 200 and the room is gone", async () => {
    const members = await users(6);
    const roomId = await roomWith(members, 6);
    const answers = await Promise.all(members.map((m) => roomAction(m, "leave-room", roomId)));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    // Whoever was last out got it back closed (others may have too, if it closed meanwhile).
    expect(answers.some((a) => a.body.room.members.length === 0)).toBe(true);
    const gone = await server.api(`/api/call/room/${roomId}`, { token: members[0]!.token });
    expect(gone.status).toBe(404);
  });

  test("DELETE: host only (others 403, unknown 404); everyone hears room-closed; then 404", async () => {
    const [host, bob, stranger] = await users(3);
    const roomId = await roomWith([host!, bob!]);
    const bobSocket = await server.socket(bob!.token);
    const hostSocket = await server.socket(host!.token);
    await Promise.all([bobSocket.next("online-users"), hostSocket.next("online-users")]);

    for (const user of [bob!, stranger!]) {
      const refused = await server.api(`/api/call/room/${roomId}`, {
        method: "DELETE",
        token: user.token,
      });
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe("FORBIDDEN");
    }
    const unknown = await server.api("/api/call/room/0123456789abcdef", {
      method: "DELETE",
      token: host!.token,
    });
    expect(unknown.status).toBe(404);

    const closed = await server.api(`/api/call/room/${roomId}`, {
      method: "DELETE",
      token: host!.token,
    });
    expect(closed.status).toBe(204);
    for (const socket of [bobSocket, hostSocket]) {
      expect((await socket.next("room-closed")).data).toEqual({ roomId });
    }
    expect((await server.api(`/api/call/room/${roomId}`, { token: bob!.token })).status).toBe(404);
    await Promise.all([bobSocket.close(), hostSocket.close()]);
  });

  test("the routes are in the OpenAPI document with their error statuses", async () => {
    const spec = await server.api("/swagger/json");
    const paths = spec.body.paths;
    expect(Object.keys(paths["/api/call/join-room"].post.responses).sort()).toEqual(
      ["200", "400", "401", "403", "404", "408", "409", "413", "415", "503"].sort(),
    );
    expect(paths["/api/call/room/{roomId}"].delete.responses["403"]).toBeDefined();
    expect(paths["/api/call/create-room"].post.responses["201"]).toBeDefined();
    expect(paths["/api/call/leave-room"].post).toBeDefined();
  });
});

describe("/ws: the room's call", () => {
  test("join-room → room-users to the joiner (the joiner included), user-joined to the others", async () => {
    const [host, bob] = await users(2);
    const roomId = await roomWith([host!, bob!]);
    const h = await inCall(host!, roomId);
    expect(h.users).toEqual([{ userId: host!.id, name: host!.name }]);

    const b = await inCall(bob!, roomId);
    expect(b.users).toEqual([
      { userId: host!.id, name: host!.name },
      { userId: bob!.id, name: bob!.name },
    ]);
    expect((await h.socket.next("user-joined")).data).toEqual({
      roomId,
      user: { userId: bob!.id, name: bob!.name },
    });
    await settle();
    expect(events(b.socket, "user-joined")).toEqual([]);
    await Promise.all([h.socket.close(), b.socket.close()]);
  });

  test("a member who has not joined the call is not in room-users", async () => {
    const [host, bob, cy] = await users(3);
    const roomId = await roomWith([host!, bob!, cy!]);
    const h = await inCall(host!, roomId);
    const c = await inCall(cy!, roomId);
    expect(c.users.map((u) => u.userId)).toEqual([host!.id, cy!.id]);
    await Promise.all([h.socket.close(), c.socket.close()]);
  });

  test("members only: a stranger or an unknown room → NOT_FOUND; a malformed id → VALIDATION", async () => {
    const [host, stranger] = await users(2);
    const { roomId } = await createRoom(host!);
    const s = await server.socket(stranger!.token);
    s.send("join-room", roomId, "x");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "x" });
    s.send("join-room", "0123456789abcdef", "y");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "y" });
    s.send("join-room", "ZZZ", "z");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "VALIDATION", ref: "z" });
    await settle();
    expect(events(s, "room-users")).toEqual([]);
    await s.close();
  });

  test("leave-room, or the socket closing → user-left to the others", async () => {
    const [host, bob, cy] = await users(3);
    const roomId = await roomWith([host!, bob!, cy!]);
    const h = await inCall(host!, roomId);
    const b = await inCall(bob!, roomId);
    const c = await inCall(cy!, roomId);
    await h.socket.next("user-joined", (d) => d.user.userId === cy!.id);

    b.socket.send("leave-room", roomId);
    for (const socket of [h.socket, c.socket]) {
      expect((await socket.next("user-left")).data).toEqual({ roomId, userId: bob!.id });
    }
    await c.socket.close();
    expect((await h.socket.next("user-left", (d) => d.userId === cy!.id)).data).toEqual({
      roomId,
      userId: cy!.id,
    });
    await settle();
    expect(events(b.socket, "user-left")).toEqual([]);
    // Bob's socket is out of the call: nothing addressed to the call reaches it any more.
    h.socket.send("toggle-media", { roomId, kind: "audio", enabled: false });
    await settle();
    expect(events(b.socket, "toggle-media")).toEqual([]);
    await Promise.all([h.socket.close(), b.socket.close()]);
  });

  test("signal goes between any two members, to the addressee only; strangers are refused", async () => {
    const [host, bob, cy, stranger] = await users(4);
    const roomId = await roomWith([host!, bob!, cy!]);
    const h = await inCall(host!, roomId);
    const b = await inCall(bob!, roomId);
    const c = await inCall(cy!, roomId);
    const s = await server.socket(stranger!.token);
    await s.next("online-users");

    const offer = { type: "offer", sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" };
    b.socket.send("signal", { roomId, to: cy!.id, type: "offer", payload: offer });
    expect((await c.socket.next("signal")).data).toEqual({
      roomId,
      from: bob!.id,
      type: "offer",
      payload: offer,
    });
    c.socket.send("signal", { roomId, to: bob!.id, type: "answer", payload: { type: "answer" } });
    expect((await b.socket.next("signal")).data).toMatchObject({ from: cy!.id, type: "answer" });
    const candidate = { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0" };
    h.socket.send("signal", { roomId, to: cy!.id, type: "ice-candidate", payload: candidate });
    expect((await c.socket.next("signal", (d) => d.from === host!.id)).data.payload).toEqual(
      candidate,
    );

    s.send("signal", { roomId, to: host!.id, type: "offer", payload: {} }, "s1");
    expect((await s.next("socket-error")).data).toMatchObject({ code: "NOT_FOUND", ref: "s1" });
    h.socket.send("signal", { roomId, to: stranger!.id, type: "offer", payload: {} }, "h1");
    expect((await h.socket.next("socket-error")).data).toMatchObject({
      code: "FORBIDDEN",
      ref: "h1",
    });
    b.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: {} }, "b1");
    expect((await b.socket.next("socket-error")).data).toMatchObject({
      code: "FORBIDDEN",
      ref: "b1",
    });
    const big = { sdp: "x".repeat(33 * 1024) };
    b.socket.send("signal", { roomId, to: cy!.id, type: "offer", payload: big }, "big");
    expect((await b.socket.next("socket-error", (d) => d.ref === "big")).data.code).toBe(
      "VALIDATION",
    );

    await settle();
    expect(events(h.socket, "signal")).toEqual([]);
    expect(events(b.socket, "signal")).toHaveLength(1);
    expect(events(c.socket, "signal")).toHaveLength(2);
    expect(events(s, "signal")).toEqual([]);
    await Promise.all([h.socket.close(), b.socket.close(), c.socket.close(), s.close()]);
  });

  test("toggle-media goes to everyone else in the call", async () => {
    const [host, bob, cy] = await users(3);
    const roomId = await roomWith([host!, bob!, cy!]);
    const h = await inCall(host!, roomId);
    const b = await inCall(bob!, roomId);
    const c = await inCall(cy!, roomId);
    b.socket.send("toggle-media", { roomId, kind: "video", enabled: false });
    for (const socket of [h.socket, c.socket]) {
      expect((await socket.next("toggle-media")).data).toEqual({
        roomId,
        userId: bob!.id,
        kind: "video",
        enabled: false,
      });
    }
    await settle();
    expect(events(b.socket, "toggle-media")).toEqual([]);
    await Promise.all([h.socket.close(), b.socket.close(), c.socket.close()]);
  });

  test("a second socket's join-room takes over: the first gets room-left, the others a fresh user-joined", async () => {
    const [host, bob] = await users(2);
    const roomId = await roomWith([host!, bob!]);
    const h = await inCall(host!, roomId);
    const first = await inCall(bob!, roomId);
    await h.socket.next("user-joined");

    const second = await inCall(bob!, roomId);
    expect(second.users.map((u) => u.userId)).toEqual([host!.id, bob!.id]);
    expect((await first.socket.next("room-left")).data).toEqual({
      roomId,
      reason: "joined-elsewhere",
    });
    expect((await h.socket.next("user-joined")).data.user.userId).toBe(bob!.id);

    // Signals to Bob reach the socket that holds the call, not the one that lost it.
    h.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: { n: 1 } });
    expect((await second.socket.next("signal")).data.payload).toEqual({ n: 1 });
    // The socket that lost the call closing is no user-left: Bob is still there.
    await first.socket.close();
    await settle();
    expect(events(h.socket, "user-left")).toEqual([]);
    expect(events(first.socket, "signal")).toEqual([]);

    await second.socket.close();
    expect((await h.socket.next("user-left")).data).toEqual({ roomId, userId: bob!.id });
    await h.socket.close();
  });

  test("two sockets of one user joining at once: exactly one holds the call", async () => {
    const [host, bob] = await users(2);
    const roomId = await roomWith([host!, bob!]);
    const h = await inCall(host!, roomId);
    const sockets = await Promise.all([server.socket(bob!.token), server.socket(bob!.token)]);
    for (const socket of sockets) socket.send("join-room", roomId);
    expect(await eventually(() => sockets.some((s) => events(s, "room-left").length > 0))).toBe(
      true,
    );
    await settle();
    const holders = sockets.filter((s) => events(s, "room-left").length === 0);
    expect(holders).toHaveLength(1);
    h.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: {} });
    await holders[0]!.next("signal");
    await Promise.all([h.socket.close(), ...sockets.map((s) => s.close())]);
  });

  test("leaving the room (REST) while in its call: room-left to that socket, user-left to the others", async () => {
    const [host, bob] = await users(2);
    const roomId = await roomWith([host!, bob!]);
    const h = await inCall(host!, roomId);
    const b = await inCall(bob!, roomId);
    await h.socket.next("user-joined");

    expect((await roomAction(bob!, "leave-room", roomId)).status).toBe(200);
    expect((await b.socket.next("room-left")).data).toEqual({ roomId, reason: "left" });
    expect((await h.socket.next("user-left")).data).toEqual({ roomId, userId: bob!.id });
    h.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: {} }, "gone");
    expect((await h.socket.next("socket-error")).data).toMatchObject({
      code: "FORBIDDEN",
      ref: "gone",
    });
    b.socket.send("signal", { roomId, to: host!.id, type: "offer", payload: {} }, "out");
    expect((await b.socket.next("socket-error")).data).toMatchObject({
      code: "NOT_FOUND",
      ref: "out",
    });
    await Promise.all([h.socket.close(), b.socket.close()]);
  });

  test("a room closed by its host: room-closed to everyone in the call; signals are NOT_FOUND", async () => {
    const [host, bob] = await users(2);
    const roomId = await roomWith([host!, bob!]);
    const h = await inCall(host!, roomId);
    const b = await inCall(bob!, roomId);
    await server.api(`/api/call/room/${roomId}`, { method: "DELETE", token: host!.token });
    for (const socket of [h.socket, b.socket]) {
      expect((await socket.next("room-closed")).data).toEqual({ roomId });
    }
    b.socket.send("signal", { roomId, to: host!.id, type: "offer", payload: {} }, "late");
    expect((await b.socket.next("socket-error")).data).toMatchObject({
      code: "NOT_FOUND",
      ref: "late",
    });
    await settle();
    expect(events(h.socket, "user-left")).toEqual([]);
    await Promise.all([h.socket.close(), b.socket.close()]);
  });

  test("a room of 8: everyone hears everyone join, and signals reach across the mesh", async () => {
    const members = await users(8);
    const roomId = await roomWith(members, 8);
    const sockets: TestSocket[] = [];
    for (const member of members) sockets.push((await inCall(member, roomId)).socket);
    for (const [i, socket] of sockets.entries()) {
      await eventually(() => events(socket, "user-joined").length === members.length - 1 - i);
      expect(events(socket, "user-joined")).toHaveLength(members.length - 1 - i);
    }
    sockets[7]!.send("signal", { roomId, to: members[0]!.id, type: "offer", payload: { m: 1 } });
    expect((await sockets[0]!.next("signal")).data.from).toBe(members[7]!.id);
    await Promise.all(sockets.map((s) => s.close()));
  });
});

// Several instances: one database, one Redis.

const JWT_SECRET = "rooms-test-secret-0123456789abcdefgh";
if (!canScaleOut) console.warn("room scale-out tests skipped: no Redis on 6379, no redis-server");

async function readyWithin(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await fetch(`${url}/ready`)).status === 200) return true;
    await Bun.sleep(50);
  }
  return false;
}

describe.skipIf(!canScaleOut)("rooms across two instances behind one Redis", () => {
  let cluster: TwoInstances;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    cluster = await twoInstances({ JWT_SECRET });
    ({ a, b } = cluster);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test("the call spans instances: users, signals, media and user-left cross", async () => {
    const [host, bob] = await users(2, a.api);
    const roomId = await roomWith([host!, bob!], 4, a.api);
    const onA = await inCall(host!, roomId, (token) => a.socket(token));
    const onB = await inCall(bob!, roomId, (token) => b.socket(token));
    expect(onB.users.map((u) => u.userId)).toEqual([host!.id, bob!.id]);
    expect((await onA.socket.next("user-joined")).data.user.userId).toBe(bob!.id);

    onA.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: { sdp: "o" } });
    expect((await onB.socket.next("signal")).data).toEqual({
      roomId,
      from: host!.id,
      type: "offer",
      payload: { sdp: "o" },
    });
    onB.socket.send("toggle-media", { roomId, kind: "audio", enabled: false });
    expect((await onA.socket.next("toggle-media")).data.userId).toBe(bob!.id);

    await onB.socket.close();
    expect((await onA.socket.next("user-left")).data).toEqual({ roomId, userId: bob!.id });
    await onA.socket.close();
  });

  test("a takeover from another instance: the first socket gets room-left", async () => {
    const [host, bob] = await users(2, a.api);
    const roomId = await roomWith([host!, bob!], 4, a.api);
    const h = await inCall(host!, roomId, (token) => a.socket(token));
    const first = await inCall(bob!, roomId, (token) => a.socket(token));
    const second = await inCall(bob!, roomId, (token) => b.socket(token));
    expect((await first.socket.next("room-left")).data).toEqual({
      roomId,
      reason: "joined-elsewhere",
    });
    h.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: { n: 2 } });
    expect((await second.socket.next("signal")).data.payload).toEqual({ n: 2 });
    await first.socket.close();
    await settle();
    expect(events(h.socket, "user-left")).toEqual([]);
    expect(events(first.socket, "signal")).toEqual([]);
    await Promise.all([h.socket.close(), second.socket.close()]);
  });

  test("two sockets of one user joining at once on two instances: exactly one holds the call", async () => {
    const [host, bob] = await users(2, a.api);
    const roomId = await roomWith([host!, bob!], 4, a.api);
    const h = await inCall(host!, roomId, (token) => a.socket(token));
    for (let round = 0; round < 3; round++) {
      const sockets = await Promise.all([a.socket(bob!.token), b.socket(bob!.token)]);
      for (const socket of sockets) socket.send("join-room", roomId);
      expect(
        await eventually(() => sockets.some((s) => events(s, "room-left").length > 0), 5000),
      ).toBe(true);
      await settle();
      const holders = sockets.filter((s) => events(s, "room-left").length === 0);
      expect(holders).toHaveLength(1);
      h.socket.send("signal", { roomId, to: bob!.id, type: "offer", payload: { round } });
      expect((await holders[0]!.next("signal")).data.payload).toEqual({ round });
      await Promise.all(sockets.map((s) => s.close()));
      await h.socket.next("user-left");
    }
    await h.socket.close();
  });

  test("room-closed and a REST leave reach sockets on the other instance", async () => {
    const [host, bob, cy] = await users(3, a.api);
    const roomId = await roomWith([host!, bob!, cy!], 4, a.api);
    const h = await inCall(host!, roomId, (token) => a.socket(token));
    const bb = await inCall(bob!, roomId, (token) => b.socket(token));
    const c = await inCall(cy!, roomId, (token) => b.socket(token));

    expect((await roomAction(bob!, "leave-room", roomId, a.api)).status).toBe(200);
    expect((await bb.socket.next("room-left")).data).toEqual({ roomId, reason: "left" });
    expect((await h.socket.next("user-left")).data).toEqual({ roomId, userId: bob!.id });

    await a.api(`/api/call/room/${roomId}`, { method: "DELETE", token: host!.token });
    expect((await c.socket.next("room-closed")).data).toEqual({ roomId });
    c.socket.send("signal", { roomId, to: host!.id, type: "offer", payload: {} }, "late");
    expect((await c.socket.next("socket-error")).data.code).toBe("NOT_FOUND");
    await Promise.all([h.socket.close(), bb.socket.close(), c.socket.close()]);
  });

  test("an instance that crashes: the others hear user-left within the expiry", async () => {
    const spawned = spawnInstance(cluster.env, {
      mongo: cluster.mongo,
      realtime: cluster.realtime,
    });
    const [host, bob] = await users(2, a.api);
    const roomId = await roomWith([host!, bob!], 4, a.api);
    const c = await spawned;
    try {
      // Until its Redis connections are up, an instance fans out locally only.
      expect(await readyWithin(c.url, 5000)).toBe(true);
      const h = await inCall(host!, roomId, (token) => a.socket(token));
      await inCall(bob!, roomId, (token) => c.socket(token));
      await h.socket.next("user-joined");
      const killedAt = Date.now();
      await c.kill();
      expect((await h.socket.next("user-left", () => true, 8000)).data).toEqual({
        roomId,
        userId: bob!.id,
      });
      expect(Date.now() - killedAt).toBeLessThan(TEST_TIMING.expiryMs + 3000);
      await h.socket.close();
    } finally {
      await c.kill();
    }
  });
});
