/** How long to wait before each reconnect: exponential backoff with full jitter. */
export interface BackoffOptions {
  /** The first wait is up to this long (1 s). */
  baseMs?: number;
  /** No wait is longer than this (30 s). */
  maxMs?: number;
  /** A connection that stayed open this long starts the count again (10 s). */
  stableMs?: number;
  /** For tests: a number in [0, 1). */
  random?: () => number;
}

/**
 * Full jitter (a uniformly random wait between 0 and the exponential cap) spreads the clients of
 * an instance that went away over the whole window, instead of bringing them back in waves.
 */
export class Backoff {
  private attempt = 0;
  readonly stableMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 1000;
    this.maxMs = options.maxMs ?? 30_000;
    this.stableMs = options.stableMs ?? 10_000;
    this.random = options.random ?? Math.random;
  }

  /** The wait before the next try; each call counts one more failure. */
  next(): number {
    const cap = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * cap);
  }

  /** A connection that closed after `openForMs` open: a stable one resets the count. */
  closedAfter(openForMs: number): void {
    if (openForMs >= this.stableMs) this.attempt = 0;
  }
}
