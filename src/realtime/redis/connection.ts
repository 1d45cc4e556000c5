import { RedisClient } from "bun";
import type { Logger } from "../../plugins/logger.ts";

export interface RedisConnectionOptions {
  url: string;
  /** Names this connection in log lines: "commands", "subscriber". */
  role: string;
  log: Logger;
  /** Runs on every fresh connection before it counts as up, e.g. SUBSCRIBE. */
  setup?: (client: RedisClient) => Promise<unknown>;
}

/** The first retry waits this long, doubling up to RETRY_MAX_MS, forever. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1000;

/** The Redis URL as it may appear in a log line: no user name, no password. */
export function redisTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
  } catch {
    return "redis";
  }
}

/**
 * One Redis connection that never gives up and never throws at its owner. Bun's client retries a
 * limited number of times, and on reconnect it neither restores subscriptions nor forgets their
 * listeners; so this makes a fresh client for every connection, runs `setup` on it, and retries
 * with a capped backoff for as long as it is open. Commands fail fast while it is down (no offline
 * queue): callers fall back to local behaviour instead of waiting.
 */
export class RedisConnection {
  private client: RedisClient | undefined;
  private closed = false;
  private connecting = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: Timer | undefined;
  private downSince: number | undefined;
  private readonly readyListeners: (() => void)[] = [];

  constructor(private readonly options: RedisConnectionOptions) {}

  /** Starts connecting in the background; `onReady` listeners run once it is up. */
  start(): void {
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

  /** A raw command; rejects at once while the connection is down. */
  send(command: string, args: string[]): Promise<unknown> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error(`redis ${this.options.role} is down`));
    return client.send(command, args);
  }

  publish(channel: string, message: string): Promise<number> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error(`redis ${this.options.role} is down`));
    return client.publish(channel, message);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    client?.close();
  }

  private async connect(): Promise<void> {
    if (this.closed || this.connecting) return;
    this.connecting = true;
    const { url, role, log, setup } = this.options;
    const client = new RedisClient(url, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: 2000,
    });
    // Failed attempts close too; only the loss of the live client matters.
    client.onclose = () => {
      if (this.client === client) this.lost();
    };
    try {
      await client.connect();
      await setup?.(client);
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
        log.warn(
          { redis: redisTarget(url), role, err: { message: (error as Error).message } },
          "redis unreachable; retrying",
        );
      }
      this.retry();
    } finally {
      this.connecting = false;
    }
  }

  private lost(): void {
    this.client = undefined;
    if (this.closed) return;
    this.downSince = Date.now();
    this.options.log.warn(
      { redis: redisTarget(this.options.url), role: this.options.role },
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
