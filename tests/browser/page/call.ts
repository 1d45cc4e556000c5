/**
 * The page side of the browser call tests (tests/browser/calls.test.ts): bundled by `Bun.build`
 * for the browser with the client SDK and run in headless Chromium. Between the markers is the
 * README's "Calls" example, verbatim (tests/client/readme-examples.test.ts holds the two equal),
 * type-checked against the DOM's own types by `bunx tsc --noEmit -p tests/browser/page`. The rest
 * is the harness the test drives through `globalThis.callTest`.
 */

// ---- README: Calls ----
// call.ts in the web app: a video call with everyone else in a room or an interview session,
// one RTCPeerConnection per person (a mesh), signaled through the client's socket.
import type { CallChannel, Client, MediaKind } from "interview-chat-server/client";

/**
 * `join` is `() => client.room(roomId)` or `() => client.session(sessionId)`, called once the
 * camera and the ICE servers are ready, so that no offer arrives before its listener. `show` gets
 * each person's stream, and null when they leave.
 */
export async function startCall(
  client: Client,
  join: () => CallChannel,
  show: (userId: string, stream: MediaStream | null) => void,
) {
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const { data } = await client.api.api.call["ice-servers"].get(); // STUN, and TURN credentials
  const peers = new Map<string, RTCPeerConnection>();
  const call = join();

  function connect(userId: string): RTCPeerConnection {
    peers.get(userId)?.close(); // they joined again (a reconnect, another device): start over
    const pc = new RTCPeerConnection({ iceServers: data?.iceServers ?? [] });
    peers.set(userId, pc);
    for (const track of local.getTracks()) pc.addTrack(track, local);
    pc.onicecandidate = ({ candidate }) =>
      candidate && call.signal(userId, "ice-candidate", candidate.toJSON());
    pc.ontrack = ({ streams }) => show(userId, streams[0] ?? null);
    return pc;
  }

  // One event at a time, in order: an ICE candidate never overtakes its offer or answer.
  let queue = Promise.resolve();
  const inTurn = (task: () => Promise<void>) => {
    queue = queue.then(task).catch((error) => console.warn("call:", error));
  };
  // Whoever was in the call first makes the offer, to each one who joins after.
  call.on("peer-joined", ({ userId }) =>
    inTurn(async () => {
      const pc = connect(userId);
      await pc.setLocalDescription();
      call.signal(userId, "offer", pc.localDescription);
    }),
  );
  call.on("signal", ({ from, type, payload }) =>
    inTurn(async () => {
      if (type === "offer") {
        const pc = connect(from);
        await pc.setRemoteDescription(payload as RTCSessionDescriptionInit);
        await pc.setLocalDescription();
        call.signal(from, "answer", pc.localDescription);
      } else if (type === "answer") {
        await peers.get(from)?.setRemoteDescription(payload as RTCSessionDescriptionInit);
      } else await peers.get(from)?.addIceCandidate(payload as RTCIceCandidateInit);
    }),
  );
  call.on("peer-left", ({ userId }) =>
    inTurn(async () => {
      peers.get(userId)?.close();
      peers.delete(userId);
      show(userId, null);
    }),
  );
  call.on("media", ({ userId, kind, enabled }) => console.log(userId, kind, enabled));

  return {
    peers, // by user id
    /** Mutes or unmutes the microphone ("audio") or the camera ("video"), and tells the others. */
    toggle(kind: MediaKind, enabled: boolean) {
      for (const track of local.getTracks()) if (track.kind === kind) track.enabled = enabled;
      call.media(kind, enabled);
    },
    leave() {
      call.leave();
      for (const pc of peers.values()) pc.close();
      peers.clear();
      for (const track of local.getTracks()) track.stop();
    },
  };
}

/** A `show` for the page: one <video> per person in the element with id "videos". */
export function showVideo(userId: string, stream: MediaStream | null): void {
  const id = `video-${userId}`;
  let video = document.getElementById(id) as HTMLVideoElement | null;
  if (!stream) {
    video?.remove();
    return;
  }
  video ??= Object.assign(document.createElement("video"), { id, autoplay: true });
  document.getElementById("videos")?.append(video);
  video.srcObject = stream;
}

// In a room (its members joined it over REST), or the same with () => client.session(sessionId):
//   const call = await startCall(client, () => client.room(roomId), showVideo);
//   call.toggle("audio", false);
//   call.leave();
// ---- end ----

import { createClient, type MediaState } from "interview-chat-server/client";

/** What one page saw of one call, for the test's assertions. */
interface CallLog {
  /** The address of every ICE candidate Chromium gathered, before the loopback filter. */
  gathered: string[];
  /** The address of every candidate that went out through `signal` (only 127.0.0.1). */
  sent: string[];
  /** The address of every candidate that came in through `signal`. */
  received: string[];
  /** "joined <userId>" / "left <userId>", as the SDK reported them. */
  heard: string[];
  /** The users this page sent an offer to. */
  offered: string[];
  media: MediaState[];
}

/**
 * The address in an ICE candidate line:
 * `candidate:<foundation> <component> <protocol> <priority> <address> <port> typ …`.
 */
function addressOf(payload: unknown): string {
  const line = (payload as RTCIceCandidateInit | null)?.candidate ?? "";
  return line.split(" ")[4] ?? "";
}

/**
 * The call channel, with every outgoing ICE candidate that is not 127.0.0.1 dropped before it
 * reaches `signal` (a belt to the network namespace's braces), and everything logged.
 */
function watched(call: CallChannel, log: CallLog): CallChannel {
  const signal = call.signal.bind(call);
  call.signal = (to, type, payload) => {
    if (type === "offer") log.offered.push(to);
    if (type === "ice-candidate") {
      const address = addressOf(payload);
      log.gathered.push(address);
      if (address !== "127.0.0.1") return false;
      log.sent.push(address);
    }
    return signal(to, type, payload);
  };
  call.on("signal", ({ type, payload }) => {
    if (type === "ice-candidate") log.received.push(addressOf(payload));
  });
  call.on("peer-joined", ({ userId }) => log.heard.push(`joined ${userId}`));
  call.on("peer-left", ({ userId }) => log.heard.push(`left ${userId}`));
  call.on("media", (media) => log.media.push(media));
  return call;
}

/** One peer connection as the test checks it, read from `getStats()`. */
export interface PeerReport {
  userId: string;
  connectionState: RTCPeerConnectionState;
  iceGatheringState: RTCIceGatheringState;
  /** `inbound-rtp` video: frames received and decoded. */
  framesDecoded: number;
  /** The selected candidate pair's ends, each "<address> <candidateType>". */
  selected: { local: string; remote: string } | null;
  /**
   * Every candidate the connection knows, "<local|remote>-candidate <address> <candidateType>".
   * Chromium hides the address of a remote peer-reflexive candidate (one it learnt from a
   * connectivity check that came before the candidate's own signal): "(hidden)".
   */
  candidates: string[];
}

export interface CallReport {
  peers: PeerReport[];
  log: CallLog;
}

type Call = Awaited<ReturnType<typeof startCall>>;

let client: Client | undefined;
let me = "";
const calls = new Map<string, { call: Call; log: CallLog }>();
/** Peer connections put aside by `hold`, to look at after they are gone from `peers`. */
const held = new Map<string, RTCPeerConnection>();

function connected(): Client {
  if (!client) throw new Error("not signed in");
  return client;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function peerReport(userId: string, pc: RTCPeerConnection): Promise<PeerReport> {
  const stats = await pc.getStats();
  const describe = (candidate: { address?: string; candidateType?: string } | undefined) =>
    `${candidate?.address || "(hidden)"} ${candidate?.candidateType}`;
  let framesDecoded = 0;
  let selected: PeerReport["selected"] = null;
  const candidates: string[] = [];
  stats.forEach((entry) => {
    if (entry.type === "inbound-rtp" && entry.kind === "video") {
      framesDecoded += entry.framesDecoded ?? 0;
    } else if (entry.type === "local-candidate" || entry.type === "remote-candidate") {
      candidates.push(`${entry.type} ${describe(entry)}`);
    } else if (entry.type === "transport" && entry.selectedCandidatePairId) {
      const pair = stats.get(entry.selectedCandidatePairId);
      if (pair) {
        selected = {
          local: describe(stats.get(pair.localCandidateId)),
          remote: describe(stats.get(pair.remoteCandidateId)),
        };
      }
    }
  });
  const { connectionState, iceGatheringState } = pc;
  return { userId, connectionState, iceGatheringState, framesDecoded, selected, candidates };
}

async function report(callId: string): Promise<CallReport> {
  const entry = calls.get(callId);
  if (!entry) throw new Error(`no call ${callId}`);
  const peers = await Promise.all(
    [...entry.call.peers].map(([userId, pc]) => peerReport(userId, pc)),
  );
  return { peers, log: structuredClone(entry.log) };
}

const harness = {
  /** Registers `name` (the server sets the `token` cookie) and opens a client on the cookie. */
  async signUp(baseUrl: string, name: string): Promise<string> {
    const email = `${name.toLowerCase()}.${crypto.randomUUID().slice(0, 8)}@example.com`;
    const response = await fetch(`${baseUrl}/api/auth/register`, {
      method: "POST",
      credentials: "include",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, email, password: "correct horse battery" }),
    });
    if (response.status !== 201) throw new Error(`register: ${response.status}`);
    const { user } = (await response.json()) as { user: { _id: string } };
    const opened = createClient({ baseUrl, credentials: "include" });
    client = opened;
    me = user._id;
    await until("the socket", async () => (opened.status === "open" ? true : undefined), 10_000);
    return user._id;
  },

  async iceServers(): Promise<unknown> {
    const { data, error } = await connected().api.api.call["ice-servers"].get();
    if (error) throw new Error(error.value.message);
    return data.iceServers;
  },

  async createRoom(): Promise<string> {
    const { data, error } = await connected().api.api.call["create-room"].post({ capacity: 4 });
    if (error) throw new Error(error.value.message);
    return data.room.roomId;
  },

  async joinRoom(roomId: string): Promise<void> {
    const { error } = await connected().api.api.call["join-room"].post({ roomId });
    if (error) throw new Error(error.value.message);
  },

  async createSession(): Promise<string> {
    const { data, error } = await connected().api.api.sessions.post({
      problem: "Two Sum",
      difficulty: "easy",
    });
    if (error) throw new Error(error.value.message);
    return data.session._id;
  },

  async joinSession(sessionId: string): Promise<void> {
    const { error } = await connected().api.api.sessions({ id: sessionId }).join.post();
    if (error) throw new Error(error.value.message);
  },

  /** Starts the README's call in room or session `id`; resolves once this page is in it. */
  async start(kind: "room" | "session", id: string): Promise<void> {
    const c = connected();
    const log: CallLog = {
      gathered: [],
      sent: [],
      received: [],
      heard: [],
      offered: [],
      media: [],
    };
    let joined = false;
    const join = (): CallChannel => {
      if (kind === "session") {
        const session = c.session(id);
        session.on("joined", () => {
          joined = true;
        });
        return watched(session, log);
      }
      const room = c.room(id);
      room.on("users", (users) => {
        joined ||= users.some((user) => user.userId === me);
      });
      return watched(room, log);
    };
    const call = await startCall(c, join, showVideo);
    calls.set(id, { call, log });
    await until(`joining ${kind} ${id}`, async () => (joined ? true : undefined), 10_000);
  },

  /**
   * Resolves with the call's report once it has a peer connection to each of `userIds`,
   * connected, with a video frame decoded, a selected candidate pair and every local candidate
   * gathered (so that the log holds all that this page sent); throws after `ms`.
   */
  waitForCall(callId: string, userIds: string[], ms: number): Promise<CallReport> {
    return until(
      `a connected call with ${userIds.join(", ")}`,
      async () => {
        const current = await report(callId);
        const ready = userIds.every((userId) =>
          current.peers.some(
            (peer) =>
              peer.userId === userId &&
              peer.connectionState === "connected" &&
              peer.framesDecoded > 0 &&
              peer.selected !== null &&
              peer.iceGatheringState === "complete",
          ),
        );
        return ready ? current : undefined;
      },
      ms,
    ).catch(async (error) => {
      throw new Error(`${error.message}: ${JSON.stringify(await report(callId))}`);
    });
  },

  report,

  /** What the page saw of the call so far. */
  log(callId: string): CallLog | null {
    const entry = calls.get(callId);
    return entry ? structuredClone(entry.log) : null;
  },

  /** Waits until this page has heard `line` ("joined <userId>", "left <userId>") in the call. */
  async waitToHear(callId: string, line: string, ms: number): Promise<void> {
    await until(
      line,
      async () => (calls.get(callId)?.log.heard.includes(line) ? true : undefined),
      ms,
    );
  },

  toggle(callId: string, kind: MediaKind, enabled: boolean): void {
    calls.get(callId)?.call.toggle(kind, enabled);
  },

  /** Keeps the connection to `userId` aside, to look at after it has left `peers`. */
  hold(callId: string, userId: string): void {
    const pc = calls.get(callId)?.call.peers.get(userId);
    if (pc) held.set(`${callId} ${userId}`, pc);
  },

  /** The held connection's state, and whether the call still lists one for `userId`. */
  heldState(callId: string, userId: string): { state: string | null; listed: boolean } {
    return {
      state: held.get(`${callId} ${userId}`)?.connectionState ?? null,
      listed: calls.get(callId)?.call.peers.has(userId) ?? false,
    };
  },

  /** Leaves the call; resolves with the states of its peer connections right after. */
  leave(callId: string): string[] {
    const entry = calls.get(callId);
    if (!entry) return [];
    const pcs = [...entry.call.peers.values()];
    entry.call.leave();
    calls.delete(callId);
    return pcs.map((pc) => pc.connectionState);
  },

  videos(): number {
    return document.querySelectorAll("#videos video").length;
  },
};

export type Harness = typeof harness;
(globalThis as unknown as { callTest: Harness }).callTest = harness;
