import { RedisClient } from "bun";
import type { Logger } from "../../plugins/logger.ts";

export interface RedisConnectionOptions {
  url: string;
  /** Names this connection in log lines: "commands", "subscriber". */
  role: string;
  log: Logger;
  /** Runs on every fresh connection before it counts as up, e.g. SUBSCRIBE. */
  setup?: (client: RedisClient) => Promise<unknown>;
  /**
   * How long Redis may take to answer anything: connecting, `setup`, a command, a ping. Past it
   * the command fails and the connection counts as lost, so a hung Redis counts as down.
   */
  timeoutMs?: number;
  /** How often the connection is pinged, so that a silent one is found with nobody sending. */
  pingMs?: number;
}

/** The first retry waits this long, doubling up to RETRY_MAX_MS, forever. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1000;
export const DEFAULT_TIMEOUT_MS = 1000;
export const DEFAULT_PING_MS = 1000;

/** Redis did not answer in time: it may have run the command, or may still run it. */
export class RedisTimeoutError extends Error {
  override readonly name = "RedisTimeoutError";
  readonly code = "ERR_REDIS_TIMEOUT";
}

/** The connection is down: the command was never sent. */
export class RedisDownError extends Error {
  override readonly name = "RedisDownError";
  readonly code = "ERR_REDIS_DOWN";
}

/** The Redis URL as it may appear in a log line: no user name, no password. */
export function redisTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  } catch {
    return "redis";
  }
}

/** Settles as `work` does, unless `ms` pass first: then rejects and calls `onTimeout`. */
function within<T>(work: Promise<T>, ms: number, what: string, onTimeout = () => {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new RedisTimeoutError(`${what}: no answer within ${ms} ms`));
      onTimeout();
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * One Redis connection that never gives up and never throws at its owner. Bun's client retries a
 * limited number of times, and on reconnect it neither restores subscriptions nor forgets their
 * listeners; so this makes a fresh client for every connection, runs `setup` on it, and retries
 * with a capped backoff for as long as it is open. Commands fail fast while it is down (no offline
 * queue): callers fall back to local behaviour instead of waiting.
 *
 * A Redis that stops answering (hung, or a peer gone without a FIN or RST) keeps the socket open,
 * so the client alone would wait forever. Hence a deadline on everything: a command, the connect
 * or the setup unanswered within `timeoutMs` fails, and the connection is dropped and made again,
 * exactly as if it had closed; a PING every `pingMs` finds a silent connection with nobody
 * sending. Dropping the client is also what keeps a late reply harmless: it has nowhere to land.
 */
export class RedisConnection {
  private client: RedisClient | undefined;
  private closed = false;
  private connecting = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: Timer | undefined;
  private pingTimer: Timer | undefined;
  private downSince: number | undefined;
  private readonly readyListeners: (() => void)[] = [];
  private readonly timeoutMs: number;
  private readonly pingMs: number;

  constructor(private readonly options: RedisConnectionOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pingMs = options.pingMs ?? DEFAULT_PING_MS;
  }

  /** Starts connecting in the background; `onReady` listeners run once it is up. */
  start(): void {
    if (this.closed || this.pingTimer) return;
    this.pingTimer = setInterval(() => {
      if (this.up) void this.ping();
    }, this.pingMs);
    this.pingTimer.unref();
    void this.connect();
  }

  /** True once connected and set up; false while reconnecting. */
  get up(): boolean {
    return this.client?.connected === true;
  }

  /** Called after every successful (re)connection, the first included. */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /** A raw command; rejects at once while the connection is down, and after `timeoutMs`. */
  send(command: string, args: string[]): Promise<unknown> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(this.downError());
    return this.answered(client, command, client.send(command, args));
  }

  publish(channel: string, message: string): Promise<number> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(this.downError());
    return this.answered(client, "PUBLISH", client.publish(channel, message));
  }

  /**
   * True when Redis answers a PING on this connection within `timeoutMs`. Redis answers PING on a
   * subscribed connection too, so this checks the very socket a subscription's messages come on.
   */
  async ping(): Promise<boolean> {
    try {
      await this.send("PING", []);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    client?.close();
  }

  private downError(): RedisDownError {
    return new RedisDownError(`redis ${this.options.role} is down`);
  }

  /** `work`'s answer; past the deadline, the live client is dropped and `work` is forgotten. */
  private answered<T>(client: RedisClient, command: string, work: Promise<T>): Promise<T> {
    return within(work, this.timeoutMs, `redis ${this.options.role} ${command}`, () => {
      if (this.client === client) this.lost("timeout");
      client.close();
    });
  }

  private async connect(): Promise<void> {
    if (this.closed || this.connecting) return;
    this.connecting = true;
    const { url, role, log, setup } = this.options;
    const client = new RedisClient(url, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: this.timeoutMs,
    });
    // Failed attempts close too; only the loss of the live client matters.
    client.onclose = (error) => {
      if (this.client === client) this.lost("closed", error);
    };
    try {
      // Bun's own connection timeout covers the handshake; this covers a future that would not.
      await within(client.connect(), this.timeoutMs, `redis ${role} connect`);
      if (setup) await within(setup(client), this.timeoutMs, `redis ${role} setup`);
      if (this.closed) {
        client.close();
        return;
      }
      this.client = client;
      this.retryMs = RETRY_MIN_MS;
      if (this.downSince === undefined) {
        log.info({ redis: redisTarget(url), role }, "redis connected");
      } else {
        const downMs = Date.now() - this.downSince;
        log.info({ redis: redisTarget(url), role, downMs }, "redis reconnected");
      }
      this.downSince = undefined;
      for (const listener of this.readyListeners) listener();
    } catch (error) {
      client.close();
      if (this.downSince === undefined) {
        this.downSince = Date.now();
        log.warn({ redis: redisTarget(url), role, err: error }, "redis unreachable; retrying");
      }
      this.retry();
    } finally {
      this.connecting = false;
    }
  }

  /** The live client closed, or stopped answering: forget it and make another. */
  private lost(cause: "closed" | "timeout", error?: unknown): void {
    this.client = undefined;
    if (this.closed) return;
    this.downSince = Date.now();
    this.options.log.warn(
      {
        redis: redisTarget(this.options.url),
        role: this.options.role,
        cause,
        ...(error === undefined ? {} : { err: error }),
      },
      "redis connection lost; reconnecting",
    );
    this.retry();
  }

  private retry(): void {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
