/**
 * One load-generator process: real WebSocket (and fetch) clients driven by the bench over IPC.
 * Several of these run at once, each owning a slice of the sockets, so the client side is spread
 * over processes like real clients would be. It only ever connects where the bench tells it
 * (127.0.0.1), and exits when the bench goes away.
 */
import type { ChatPair, Command, Reply } from "./lib/protocol.ts";

const send = (reply: Reply) => process.send?.(reply);
const now = () => performance.now();

// The bench is our parent: if it disappears (even SIGKILLed), so do we.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(0);
}, 1000).unref();
process.on("disconnect", () => process.exit(0));

const sockets: WebSocket[] = [];

function open(url: string, onFrame: (data: string) => void, readyEvent = "online-users") {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url);
    let ready = false;
    const timer = setTimeout(() => {
      if (!ready) {
        ws.close();
        reject(new Error(`no ${readyEvent} within 30 s`));
      }
    }, 30_000);
    ws.onmessage = (event) => {
      const data = String(event.data);
      if (!ready && data.includes(`"event":"${readyEvent}"`)) {
        ready = true;
        clearTimeout(timer);
        resolve(ws);
      }
      onFrame(data);
    };
    ws.onerror = () => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error("socket error before ready"));
      }
    };
    ws.onclose = (event) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`closed before ready (${event.code})`));
      }
    };
    sockets.push(ws);
  });
}

/** Opens `urls` with at most `concurrency` handshakes in flight. */
async function openAll(
  urls: string[],
  concurrency: number,
  opener: (url: string, index: number) => Promise<unknown>,
): Promise<Reply> {
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async () => {
    while (next < urls.length) {
      const index = next++;
      try {
        await opener(urls[index]!, index);
        opened++;
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, urls.length) }, lane));
  return { type: "ready", opened, failed, firstError };
}

// ---- chat: pairs of users sending to each other ----

interface ChatUser {
  id: string;
  chatId: string;
  ws: WebSocket | undefined;
  inFlight: number;
}

interface Pending {
  sentAt: number;
  step: number;
  acked: boolean;
  received: boolean;
}

const chatUsers: ChatUser[] = [];
const pending = new Map<string, Pending>();
let stepId = 0;
let counter = 0;
let stepStats: {
  windowEnd: number;
  ackedInWindow: number;
  acked: number;
  errors: Record<string, number>;
  latencies: number[];
  ackLatencies: number[];
} = { windowEnd: 0, ackedInWindow: 0, acked: 0, errors: {}, latencies: [], ackLatencies: [] };

function settle(clientId: string, entry: Pending) {
  if (entry.acked && entry.received) pending.delete(clientId);
}

function onChatFrame(user: ChatUser, raw: string) {
  const frame = JSON.parse(raw) as {
    event: string;
    data: { clientId?: string; sender?: { _id: string }; code?: string; ref?: string | null };
  };
  const t = now();
  if (frame.event === "message-sent") {
    const clientId = frame.data.clientId ?? "";
    const entry = pending.get(clientId);
    if (!entry) return;
    user.inFlight--;
    entry.acked = true;
    if (entry.step === stepId) {
      stepStats.acked++;
      if (t <= stepStats.windowEnd) stepStats.ackedInWindow++;
      stepStats.ackLatencies.push(t - entry.sentAt);
    }
    settle(clientId, entry);
  } else if (frame.event === "new-message") {
    if (frame.data.sender?._id === user.id) return;
    const clientId = frame.data.clientId ?? "";
    const entry = pending.get(clientId);
    if (!entry) return;
    entry.received = true;
    if (entry.step === stepId) stepStats.latencies.push(t - entry.sentAt);
    settle(clientId, entry);
  } else if (frame.event === "socket-error") {
    const code = String(frame.data.code);
    stepStats.errors[code] = (stepStats.errors[code] ?? 0) + 1;
    const ref = frame.data.ref;
    if (ref && pending.has(ref)) {
      user.inFlight--;
      pending.delete(ref);
    }
  }
}

async function chatOpen(pairs: ChatPair[]): Promise<Reply> {
  const targets: { user: ChatUser; url: string }[] = [];
  for (const pair of pairs) {
    for (const side of [pair.a, pair.b]) {
      const user: ChatUser = { id: side.id, chatId: pair.chatId, ws: undefined, inFlight: 0 };
      chatUsers.push(user);
      targets.push({ user, url: side.url });
    }
  }
  return openAll(
    targets.map((t) => t.url),
    64,
    async (url, index) => {
      const { user } = targets[index]!;
      user.ws = await open(url, (data) => onChatFrame(user, data));
    },
  );
}

async function chatStep(
  ratePerUser: number,
  ms: number,
  maxInFlight: number,
  drainMs: number,
  startAt?: number,
  phase = 0,
): Promise<Reply> {
  stepId++;
  pending.clear();
  for (const user of chatUsers) user.inFlight = 0;
  const users = chatUsers.filter((u) => u.ws);
  // The window opens at `startAt` (the epoch clock every process shares), or now.
  // If this command arrived late, the window opens on arrival, and `startLagMs` says by how much.
  const scheduled = startAt === undefined ? now() : startAt - performance.timeOrigin;
  const start = Math.max(now(), scheduled);
  stepStats = {
    windowEnd: start + ms,
    ackedInWindow: 0,
    acked: 0,
    errors: {},
    latencies: [],
    ackLatencies: [],
  };
  // Sends per second from this process. Any rate works, fractional per user included: the n-th
  // send is due at (n - phase) / rate seconds into the window, whoever's turn it is (round robin),
  // so 0.1/s per user over 500 users is one send every 20 ms, not 500 sends every 10 s.
  const rate = ratePerUser * users.length;
  let attempted = 0;
  let sent = 0;
  let skipped = 0;
  let cursor = 0;
  let startLagMs = Number.NaN;
  const text = "benchmark message: the quick brown fox jumps over the lazy dog";
  const lead = start - now();
  if (lead > 5) await Bun.sleep(lead - 3);
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const t = now();
      const elapsed = t - start;
      if (elapsed < 0) return;
      if (Number.isNaN(startLagMs)) startLagMs = t - scheduled;
      if (elapsed >= ms) {
        clearInterval(tick);
        resolve();
        return;
      }
      const due = Math.floor((elapsed / 1000) * rate + phase) - attempted;
      for (let i = 0; i < due; i++) {
        attempted++;
        const user = users[cursor]!;
        cursor = (cursor + 1) % users.length;
        if (user.inFlight >= maxInFlight || user.ws?.readyState !== WebSocket.OPEN) {
          skipped++;
          continue;
        }
        const clientId = `${process.pid}-${++counter}`;
        pending.set(clientId, { sentAt: now(), step: stepId, acked: false, received: false });
        user.inFlight++;
        sent++;
        user.ws.send(
          `{"event":"send-message","data":{"chatId":"${user.chatId}","text":"${text}","clientId":"${clientId}"},"ref":"${clientId}"}`,
        );
      }
    }, 2);
  });
  // Let what is in flight land, for the latency figures (throughput counts only the window).
  const drainUntil = now() + drainMs;
  while (pending.size > 0 && now() < drainUntil) await Bun.sleep(20);
  let missing = 0;
  for (const entry of pending.values()) if (entry.acked && !entry.received) missing++;
  return {
    type: "step",
    sent,
    skipped,
    ackedInWindow: stepStats.ackedInWindow,
    acked: stepStats.acked,
    errors: stepStats.errors,
    latencies: stepStats.latencies,
    ackLatencies: stepStats.ackLatencies,
    missing,
    ms,
    startLagMs,
  };
}

// ---- broadcast: receivers count typing frames; the typist types as fast as the probe keeps up ----

let counting = false;
let counted = 0;
let countStart = 0;
let closedReceivers = 0;

async function receiversOpen(urls: string[], chatId: string): Promise<Reply> {
  const join = `{"event":"join-chat","data":"${chatId}"}`;
  return openAll(urls, 64, async (url) => {
    const ws = await open(url, (data) => {
      if (counting && data.startsWith('{"event":"typing"')) counted++;
    });
    ws.addEventListener("close", () => closedReceivers++);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no chat-joined within 30 s")), 30_000);
      ws.addEventListener("message", (event) => {
        if (String(event.data).includes('"event":"chat-joined"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      ws.send(join);
    });
  });
}

let typist: WebSocket | undefined;
let probeReceived = 0;
let onProbe: (() => void) | undefined;
let typingFrame = "";

async function typistOpen(typistUrl: string, probeUrl: string, chatId: string): Promise<Reply> {
  typingFrame = `{"event":"typing","data":{"chatId":"${chatId}","isTyping":true}}`;
  const probe = await open(probeUrl, (data) => {
    if (data.startsWith('{"event":"typing"')) {
      probeReceived++;
      if (counting) counted++;
      onProbe?.();
    }
  });
  await new Promise<void>((resolve) => {
    probe.addEventListener("message", (event) => {
      if (String(event.data).includes('"event":"chat-joined"')) resolve();
    });
    probe.send(`{"event":"join-chat","data":"${chatId}"}`);
  });
  typist = await open(typistUrl, () => {});
  return { type: "ready", opened: 2, failed: 0 };
}

async function type(ms: number, window: number): Promise<Reply> {
  const ws = typist;
  if (!ws) return { type: "error", message: "typist not open" };
  const start = now();
  const baseReceived = probeReceived;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      if (now() - start >= ms) {
        onProbe = undefined;
        resolve();
        return;
      }
      while (sent - (probeReceived - baseReceived) < window) {
        ws.send(typingFrame);
        sent++;
      }
    };
    onProbe = pump;
    pump();
    // If frames were lost (a socket closed), the window would never reopen: time still ends it.
    const guard = setInterval(() => {
      if (now() - start >= ms) {
        clearInterval(guard);
        onProbe = undefined;
        resolve();
      }
    }, 50);
  });
  return { type: "typed", sent, probeReceived: probeReceived - baseReceived, ms: now() - start };
}

// ---- connections: idle sockets ----

let idleOpen = 0;
let idleClosed = 0;

async function idleOpenAll(urls: string[], concurrency: number): Promise<Reply> {
  return openAll(urls, concurrency, async (url) => {
    const ws = await open(url, () => {});
    idleOpen++;
    ws.addEventListener("close", () => {
      idleOpen--;
      idleClosed++;
    });
  });
}

// ---- REST: a fixed number of connections, fetch in a loop ----

async function rest(command: Extract<Command, { cmd: "rest" }>): Promise<Reply> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const start = now();
  let count = 0;
  let item = 0;
  const text = "benchmark message over REST";
  const lane = async () => {
    while (now() - start < command.ms) {
      const { token, chatId } = command.items[item++ % command.items.length]!;
      const t = now();
      let status: number;
      try {
        const response =
          command.kind === "list-chats"
            ? await fetch(`${command.base}/api/chats`, {
                headers: { authorization: `Bearer ${token}` },
              })
            : await fetch(`${command.base}/api/messages/chat/${chatId}`, {
                method: "POST",
                headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
                body: JSON.stringify({ text, clientId: `${process.pid}-r${++counter}` }),
              });
        await response.arrayBuffer();
        status = response.status;
      } catch {
        status = 0;
      }
      latencies.push(now() - t);
      statuses[status] = (statuses[status] ?? 0) + 1;
      count++;
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, lane));
  return { type: "rest", count, statuses, latencies, ms: now() - start };
}

async function handle(command: Command): Promise<Reply> {
  switch (command.cmd) {
    case "chat-open":
      return chatOpen(command.pairs);
    case "chat-step":
      return chatStep(
        command.ratePerUser,
        command.ms,
        command.maxInFlight,
        command.drainMs,
        command.startAt,
        command.phase,
      );
    case "receivers-open":
      return receiversOpen(command.urls, command.chatId);
    case "count-start":
      counted = 0;
      counting = true;
      countStart = now();
      return { type: "count", frames: 0, ms: 0, closed: closedReceivers };
    case "count-stop":
      counting = false;
      return { type: "count", frames: counted, ms: now() - countStart, closed: closedReceivers };
    case "typist-open":
      return typistOpen(command.typistUrl, command.probeUrl, command.chatId);
    case "type":
      return type(command.ms, command.window);
    case "idle-open":
      return idleOpenAll(command.urls, command.concurrency);
    case "idle-check":
      return { type: "idle", open: idleOpen, closed: idleClosed };
    case "rest":
      return rest(command);
    case "close":
      for (const ws of sockets) ws.close();
      await Bun.sleep(200);
      return { type: "closed" };
  }
}

process.on("message", (message) => {
  handle(message as Command).then(send, (error: Error) =>
    send({ type: "error", message: error.message }),
  );
});
