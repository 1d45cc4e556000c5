import { describe, test } from "bun:test";
import { createHash, createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { udp } from "bun";

/**
 * A real coturn for the ICE server tests, and the smallest TURN client that can ask it for an
 * allocation: STUN (RFC 5389) messages over UDP, the TURN Allocate method (RFC 5766), and the
 * long-term credential mechanism, which is what a browser does with the `{ urls, username,
 * credential }` the server hands out.
 */

/** Debian's package puts it here; anything else on the PATH named `turnserver` will do too. */
export const turnserverPath: string | null = existsSync("/usr/bin/turnserver")
  ? "/usr/bin/turnserver"
  : Bun.which("turnserver");

/**
 * `describe` when coturn is installed. Without it the block is skipped with a warning on a
 * developer's machine, but fails in CI (CI=true): `.ci/run` installs coturn, and a CI run that
 * could not must not pass as if the credentials had been tried against a real TURN server.
 */
export function describeWithCoturn(name: string, body: () => void): void {
  if (!turnserverPath && process.env.CI) {
    test(`${name}: coturn is installed`, () => {
      throw new Error("coturn (turnserver) is not installed, so the TURN tests could not run");
    });
    return;
  }
  if (!turnserverPath) console.warn(`TURN tests skipped (${name}): coturn is not installed`);
  describe.skipIf(!turnserverPath)(name, body);
}

export interface Coturn {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly realm: string;
  readonly pid: number;
  /** What it logged so far: read it when an allocation is refused for a reason nobody expected. */
  log(): string;
  stop(): Promise<void>;
}

/** A UDP and TCP port nobody listens on right now (coturn takes both). */
function freePort(): number {
  for (;;) {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const { port } = probe;
    probe.stop(true);
    // coturn's relay ports are taken from the range above; keep its listener clear of them.
    if (port < 49152) return port;
  }
}

/**
 * Starts `turnserver` on loopback with the TURN REST API scheme (`use-auth-secret`), no TLS or
 * DTLS, no CLI, and a log file and database in a temporary directory; waits until it answers a
 * STUN Binding request.
 */
export async function startCoturn(secret: string, realm = "turn.test"): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), "coturn-"));
  const logFile = join(dir, "turn.log");
  for (let attempt = 0; ; attempt++) {
    const port = freePort();
    const child = Bun.spawn(
      [
        turnserverPath!,
        "-n", // no configuration file: every setting is here
        `--listening-port=${port}`,
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        "--use-auth-secret",
        `--static-auth-secret=${secret}`,
        `--realm=${realm}`,
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--no-rfc5780",
        `--log-file=${logFile}`,
        "--simple-log",
        "--no-stdout-log",
        `--pidfile=${join(dir, "turnserver.pid")}`,
        `--userdb=${join(dir, "turndb")}`,
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    const stop = async () => {
      child.kill("SIGKILL");
      await child.exited;
    };
    if (await answersBinding(port, 5000)) {
      // A test that dies half-way must not leave a TURN server behind.
      const onExit = () => child.kill("SIGKILL");
      process.once("exit", onExit);
      return {
        host: "127.0.0.1",
        port,
        realm,
        pid: child.pid,
        log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
        async stop() {
          process.off("exit", onExit);
          await stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await stop();
    // The port may have been taken between the probe and coturn's bind: try another one.
    if (attempt >= 2) {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`turnserver did not answer on 127.0.0.1:${port}\n${log.slice(-2000)}`);
    }
  }
}

// STUN and TURN, as far as an Allocate needs them.

const MAGIC_COOKIE = 0x2112a442;
const HEADER_BYTES = 20;

/** Message types: the method, and the class bits of a request, a success or an error response. */
export const MessageType = {
  bindingRequest: 0x0001,
  bindingSuccess: 0x0101,
  allocateRequest: 0x0003,
  allocateSuccess: 0x0103,
  allocateError: 0x0113,
  refreshRequest: 0x0004,
} as const;

const Attribute = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
  xorMappedAddress: 0x0020,
} as const;

interface StunMessage {
  type: number;
  transactionId: Buffer;
  attributes: Map<number, Buffer>;
}

function attribute(type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  padded.writeUInt16BE(type, 0);
  padded.writeUInt16BE(value.length, 2);
  value.copy(padded, 4);
  return padded;
}

/**
 * Encodes a message. With `integrityKey`, MESSAGE-INTEGRITY comes last: an HMAC-SHA1 over the
 * message up to it, with the header's length already counting it (RFC 5389, 15.4).
 */
function encode(
  type: number,
  transactionId: Buffer,
  attributes: Buffer[],
  integrityKey?: Buffer,
): Buffer {
  const body = Buffer.concat(attributes);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(header, 8);
  if (!integrityKey) {
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  }
  header.writeUInt16BE(body.length + 24, 2);
  const hmac = createHmac("sha1", integrityKey)
    .update(Buffer.concat([header, body]))
    .digest();
  return Buffer.concat([header, body, attribute(Attribute.messageIntegrity, hmac)]);
}

function decode(packet: Buffer): StunMessage | undefined {
  if (packet.length < HEADER_BYTES || packet.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  const length = packet.readUInt16BE(2);
  const attributes = new Map<number, Buffer>();
  let offset = HEADER_BYTES;
  while (offset + 4 <= HEADER_BYTES + length && offset + 4 <= packet.length) {
    const type = packet.readUInt16BE(offset);
    const size = packet.readUInt16BE(offset + 2);
    attributes.set(type, packet.subarray(offset + 4, offset + 4 + size));
    offset += 4 + Math.ceil(size / 4) * 4;
  }
  return { type: packet.readUInt16BE(0), transactionId: packet.subarray(8, 20), attributes };
}

/** An XOR-MAPPED-ADDRESS or XOR-RELAYED-ADDRESS (IPv4): `address:port`. */
function xorAddress(value: Buffer): string {
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  const ip = value.readUInt32BE(4) ^ MAGIC_COOKIE;
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}:${port}`;
}

function errorOf(message: StunMessage): { code: number; reason: string } | undefined {
  const value = message.attributes.get(Attribute.errorCode);
  if (!value) return undefined;
  return { code: (value[2]! & 0x7) * 100 + value[3]!, reason: value.subarray(4).toString("utf8") };
}

/**
 * One UDP socket, as a TURN client has: the server ties a nonce and an allocation to the client's
 * address and port, so the challenge, the Allocate and the Refresh must all come from it.
 */
class StunClient {
  private readonly waiting = new Map<string, (message: StunMessage) => void>();

  private constructor(
    private readonly socket: udp.Socket<"buffer">,
    private readonly port: number,
  ) {}

  static async open(port: number): Promise<StunClient> {
    let client: StunClient | undefined;
    const socket = await Bun.udpSocket({
      hostname: "127.0.0.1",
      socket: {
        data(_socket, data) {
          const message = decode(Buffer.from(data));
          if (!message) return;
          client?.waiting.get(message.transactionId.toString("hex"))?.(message);
        },
        // ICMP "port unreachable" while the server starts: the request is simply sent again.
        error() {},
      },
    });
    client = new StunClient(socket, port);
    return client;
  }

  /** Sends a request, again every 250 ms as STUN clients do over UDP, until its answer comes. */
  async request(
    build: (transactionId: Buffer) => Buffer,
    timeoutMs = 3000,
  ): Promise<StunMessage | undefined> {
    const transactionId = Buffer.from(crypto.getRandomValues(new Uint8Array(12)));
    const key = transactionId.toString("hex");
    const packet = build(transactionId);
    const send = () => {
      if (!this.socket.closed) this.socket.send(packet, this.port, "127.0.0.1");
    };
    let resend: Timer | undefined;
    let deadline: Timer | undefined;
    try {
      return await new Promise<StunMessage | undefined>((resolve) => {
        this.waiting.set(key, resolve);
        resend = setInterval(send, 250);
        deadline = setTimeout(() => resolve(undefined), timeoutMs);
        send();
      });
    } finally {
      this.waiting.delete(key);
      clearInterval(resend);
      clearTimeout(deadline);
    }
  }

  close(): void {
    this.socket.close();
  }
}

async function answersBinding(port: number, timeoutMs: number): Promise<boolean> {
  const client = await StunClient.open(port);
  try {
    const answer = await client.request(
      (id) => encode(MessageType.bindingRequest, id, []),
      timeoutMs,
    );
    return answer?.type === MessageType.bindingSuccess;
  } finally {
    client.close();
  }
}

export type AllocateResult =
  | { ok: true; relayedAddress: string; lifetimeSeconds: number }
  | { ok: false; code: number; reason: string };

/**
 * A TURN allocation for UDP relaying with the long-term credential mechanism: an Allocate without
 * credentials, which the server refuses with 401 and its REALM and NONCE; then the same with
 * USERNAME, REALM, NONCE and MESSAGE-INTEGRITY keyed with MD5(username:realm:password). A granted
 * allocation is given back at once (Refresh with LIFETIME 0).
 */
export async function allocate(
  server: { port: number },
  credentials: { username: string; password: string },
): Promise<AllocateResult> {
  const client = await StunClient.open(server.port);
  try {
    return await allocateWith(client, credentials);
  } finally {
    client.close();
  }
}

async function allocateWith(
  client: StunClient,
  { username, password }: { username: string; password: string },
): Promise<AllocateResult> {
  const transport = attribute(Attribute.requestedTransport, Buffer.from([17, 0, 0, 0]));
  const challenge = await client.request((id) =>
    encode(MessageType.allocateRequest, id, [transport]),
  );
  if (!challenge) return { ok: false, code: 0, reason: "no answer" };
  const challengeError = errorOf(challenge);
  const realm = challenge.attributes.get(Attribute.realm);
  const nonce = challenge.attributes.get(Attribute.nonce);
  if (challengeError?.code !== 401 || !realm || !nonce) {
    return { ok: false, code: challengeError?.code ?? 0, reason: "expected a 401 challenge" };
  }
  const key = createHash("md5")
    .update(`${username}:${realm.toString("utf8")}:${password}`)
    .digest();
  const identity = [
    attribute(Attribute.username, Buffer.from(username, "utf8")),
    attribute(Attribute.realm, realm),
    attribute(Attribute.nonce, nonce),
  ];
  const answer = await client.request((id) =>
    encode(MessageType.allocateRequest, id, [transport, ...identity], key),
  );
  if (!answer) return { ok: false, code: 0, reason: "no answer" };
  if (answer.type !== MessageType.allocateSuccess) {
    const error = errorOf(answer);
    return { ok: false, code: error?.code ?? 0, reason: error?.reason ?? "not a success" };
  }
  const relayed = answer.attributes.get(Attribute.xorRelayedAddress);
  const lifetime = answer.attributes.get(Attribute.lifetime);
  const release = attribute(Attribute.lifetime, Buffer.from([0, 0, 0, 0]));
  await client.request(
    (id) => encode(MessageType.refreshRequest, id, [release, ...identity], key),
    1000,
  );
  return {
    ok: true,
    relayedAddress: relayed ? xorAddress(relayed) : "",
    lifetimeSeconds: lifetime ? lifetime.readUInt32BE(0) : 0,
  };
}

/** The TURN REST API credential, computed here on its own: what coturn checks. */
export function restCredential(
  secret: string,
  userId: string,
  expiresAtSeconds: number,
): { username: string; password: string } {
  const username = `${expiresAtSeconds}:${userId}`;
  return { username, password: createHmac("sha1", secret).update(username).digest("base64") };
}
