import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { chromiumPath, launchChromium, screenshot } from "../support/browser.ts";
import {
  describeInLoopbackNamespace,
  executableInNamespace,
  spawnInLoopbackNamespace,
} from "../support/netns.ts";

/**
 * Real WebRTC calls through the server, in headless Chromium: pages signed in as different users
 * place the README's call (tests/browser/page/call.ts, with the client SDK) in a room and in an
 * interview session, negotiating offer, answer and trickled ICE through `/ws` alone, with fake
 * camera and microphone. Every packet stays on loopback: the server, the pages and Chromium run
 * in a network namespace whose only interface is its own loopback (tests/support/netns.ts), so
 * there is no other address to send to; the pages also pass on only 127.0.0.1 candidates, and
 * each call is checked to have gathered, signalled and selected nothing else.
 */

/** `bun test` kills a test after this long; the waits below are shorter. */
const TEST_MS = 40_000;
/** How long a page waits for a call to connect and decode a frame. */
const CONNECT_MS = 25_000;

const CHROMIUM_ARGS = [
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // WebRTC leaves loopback out of ICE unless told: in the namespace it is all there is.
  "--allow-loopback-in-peer-connection",
  // Host candidates with their address (127.0.0.1), not a random `*.local` name that the other
  // side would have to resolve over multicast DNS.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
];

const LOOPBACK = ["127.0.0.1", "::1"];

/** tests/browser/page/call.ts's reports (that file is compiled with the DOM's types only). */
interface PeerReport {
  userId: string;
  connectionState: string;
  iceGatheringState: string;
  framesDecoded: number;
  /** Each end as "<address> <candidateType>". */
  selected: { local: string; remote: string } | null;
  /** "<local|remote>-candidate <address> <candidateType>"; a hidden address is "(hidden)". */
  candidates: string[];
}

interface CallLog {
  gathered: string[];
  sent: string[];
  received: string[];
  heard: string[];
  offered: string[];
  /** `toggle-media` as the SDK hands it on: the frame's data, the call's id included. */
  media: { roomId?: string; sessionId?: string; userId: string; kind: string; enabled: boolean }[];
}

interface CallReport {
  peers: PeerReport[];
  log: CallLog;
}

interface CallPage {
  page: Page;
  id: string;
}

/** Calls `method` of the page's harness (`callTest`, tests/browser/page/call.ts) in the page. */
function run<T = any>(side: CallPage, method: string, ...args: unknown[]): Promise<T> {
  return side.page.evaluate(({ method, args }) => (globalThis as any).callTest[method](...args), {
    method,
    args,
  });
}

/** The first line a process prints, or an error if it ends or takes longer than `ms`. */
async function firstLine(stream: ReadableStream<Uint8Array>, ms: number): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => reader.cancel("timed out"), ms);
  try {
    while (!text.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the call server ended or timed out before it was ready: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    return text.slice(0, text.indexOf("\n"));
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/** Waits in the page until the call is connected to each of `others`, a video frame decoded. */
function connectedTo(side: CallPage, callId: string, others: CallPage[]): Promise<CallReport> {
  const userIds = others.map((other) => other.id);
  return run(side, "waitForCall", callId, userIds, CONNECT_MS);
}

/**
 * Nothing of one page's call touched an address but loopback, and its media flows over
 * 127.0.0.1. A remote end that Chromium learnt from a connectivity check before that candidate's
 * signal came (peer-reflexive) has its address hidden in `getStats()`; it is the other page's
 * local end of the same pair, which that page's report shows, so checking every page of a call
 * checks both ends of each connection.
 */
function expectLoopbackOnly(report: CallReport): void {
  const { log, peers } = report;
  // Chromium found no interface but loopback to gather candidates on...
  expect(log.gathered.length).toBeGreaterThan(0);
  for (const address of log.gathered) expect(LOOPBACK).toContain(address);
  // ...the page signalled only 127.0.0.1, and was signalled only 127.0.0.1 (so far: the other
  // side's last candidates may still be on their way)...
  expect(log.sent.length).toBeGreaterThan(0);
  for (const address of [...log.sent, ...log.received]) expect(address).toBe("127.0.0.1");
  for (const peer of peers) {
    // ...and each connection runs from 127.0.0.1, to 127.0.0.1, knowing no other candidate.
    expect(peer.selected?.local).toBe("127.0.0.1 host");
    expect(peer.selected?.remote).toMatch(/^(127\.0\.0\.1 host|\(hidden\) prflx)$/);
    for (const candidate of peer.candidates) {
      expect(candidate).toMatch(
        /^(local-candidate (127\.0\.0\.1|::1) host|remote-candidate (127\.0\.0\.1 host|\(hidden\) prflx))$/,
      );
    }
  }
}

describeInLoopbackNamespace("real calls between Chromium pages, on loopback only", () => {
  let world: ReturnType<typeof spawnInLoopbackNamespace> | undefined;
  let dir: string | undefined;
  let browser: Browser | undefined;
  let interfaces: string[] = [];
  let alice: CallPage;
  let bob: CallPage;
  let carol: CallPage;
  let roomId: string;

  beforeAll(async () => {
    // The app, its store and the page server, in a namespace of their own (never MONGODB_URI:
    // no database outside is reachable from there).
    world = spawnInLoopbackNamespace(
      [process.execPath, resolve(import.meta.dir, "call-server.ts")],
      { env: { ...process.env, MONGODB_URI: "" } },
    );
    const ready = JSON.parse(await firstLine(world.stdout, 30_000));
    interfaces = ready.interfaces;
    // Chromium joins that namespace (only once the server is up: the namespace exists by then).
    dir = mkdtempSync(join(tmpdir(), "browser-calls-"));
    browser = await launchChromium({
      executablePath: executableInNamespace(world.pid, chromiumPath!, dir),
      args: CHROMIUM_ARGS,
    });
    const open = async (name: string): Promise<CallPage> => {
      const page = await (await browser!.newContext()).newPage();
      await page.goto(ready.page);
      const id: string = await page.evaluate(
        ({ server, name }) => (globalThis as any).callTest.signUp(server, name),
        { server: ready.server, name },
      );
      return { page, id };
    };
    [alice, bob, carol] = await Promise.all([open("Alice"), open("Bob"), open("Carol")]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (world) {
      world.stdin.end(); // the server stops by itself; by its pid if it does not
      const stopped = await Promise.race([world.exited, Bun.sleep(5000).then(() => null)]);
      if (stopped === null) world.kill();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(
    "two pages in a room: offer, answer and ICE through /ws connect them, video decoded both ways",
    async () => {
      // The namespace has loopback alone, and no STUN or TURN server is configured.
      expect(interfaces).toEqual(["lo"]);
      expect(await run(alice, "iceServers")).toEqual([]);

      roomId = await run(alice, "createRoom");
      for (const member of [bob, carol]) await run(member, "joinRoom", roomId);
      // Alice is in the call first, so she hears Bob join and makes the offer.
      await run(alice, "start", "room", roomId);
      await run(bob, "start", "room", roomId);
      const [a, b] = await Promise.all([
        connectedTo(alice, roomId, [bob]),
        connectedTo(bob, roomId, [alice]),
      ]);

      expect(a.log.heard).toEqual([`joined ${bob.id}`]);
      expect(a.log.offered).toEqual([bob.id]);
      expect(b.log.offered).toEqual([]);
      expectLoopbackOnly(a);
      expectLoopbackOnly(b);

      // Alice turns her camera off: Bob is told through toggle-media.
      await run(alice, "toggle", roomId, "video", false);
      await bob.page.waitForFunction(
        (roomId) => (globalThis as any).callTest.log(roomId).media.length > 0,
        roomId,
        { polling: 50 },
      );
      const media = (await run<CallLog>(bob, "log", roomId)).media;
      expect(media).toEqual([{ roomId, userId: alice.id, kind: "video", enabled: false }]);
      await run(alice, "toggle", roomId, "video", true);
    },
    TEST_MS,
  );

  test(
    "a third page joins the room: a three-way mesh, each page connected to both others",
    async () => {
      await run(carol, "start", "room", roomId);
      const reports = await Promise.all([
        connectedTo(alice, roomId, [bob, carol]),
        connectedTo(bob, roomId, [alice, carol]),
        connectedTo(carol, roomId, [alice, bob]),
      ]);
      const [a, b, c] = reports;

      // The two already there each heard Carol and made her an offer; she offered nobody.
      expect(a!.log.offered).toEqual([bob.id, carol.id]);
      expect(b!.log.offered).toEqual([carol.id]);
      expect(c!.log.offered).toEqual([]);
      expect(c!.log.heard).toEqual([]);
      for (const report of reports) expectLoopbackOnly(report);
      expect(await run(alice, "videos")).toBe(2);
      await screenshot(alice.page, "call-mesh-of-three");
    },
    TEST_MS,
  );

  test(
    "a page that leaves: the others hear user-left and close their connection to it",
    async () => {
      for (const side of [alice, bob]) await run(side, "hold", roomId, carol.id);

      const closedOnLeaving = await run(carol, "leave", roomId);

      expect(closedOnLeaving).toEqual(["closed", "closed"]);
      for (const side of [alice, bob]) {
        await run(side, "waitToHear", roomId, `left ${carol.id}`, 10_000);
        const held = await run(side, "heldState", roomId, carol.id);
        expect(held).toEqual({ state: "closed", listed: false });
        expect(await run(side, "videos")).toBe(1);
      }
      // Alice and Bob are still in a call together.
      const a = await connectedTo(alice, roomId, [bob]);
      expect(a.peers.map((peer) => peer.userId)).toEqual([bob.id]);
    },
    TEST_MS,
  );

  test(
    "then an interview session: the same two users call through join-session, peer-joined and signal",
    async () => {
      for (const side of [alice, bob]) await run(side, "leave", roomId);
      const sessionId: string = await run(alice, "createSession");
      await run(bob, "joinSession", sessionId);

      await run(alice, "start", "session", sessionId);
      await run(bob, "start", "session", sessionId);
      const [a, b] = await Promise.all([
        connectedTo(alice, sessionId, [bob]),
        connectedTo(bob, sessionId, [alice]),
      ]);

      // Alice was in the session first (her `joined` came before Bob started): she heard Bob's
      // peer-joined and made the one offer.
      expect(a.log.heard).toEqual([`joined ${bob.id}`]);
      expect(a.log.offered).toEqual([bob.id]);
      expect(b.log.offered).toEqual([]);
      expectLoopbackOnly(a);
      expectLoopbackOnly(b);
    },
    TEST_MS,
  );
});
