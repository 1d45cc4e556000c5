export interface RateRule {
  /** How many actions may happen at once after a quiet spell. */
  burst: number;
  /** How many actions per second are allowed over time. */
  perSecond: number;
}

export interface RateLimiter {
  /** Takes one action from `key`'s allowance; false when it is used up (nothing should happen). */
  take(key: string, rule: RateRule): Promise<boolean>;
  close(): Promise<void>;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A token bucket per key, in this process. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweep: Timer;

  constructor(private readonly now: () => number = Date.now) {
    // Forget buckets that have refilled completely, so idle users cost nothing.
    this.sweep = setInterval(() => this.forgetFull(), 60_000);
    this.sweep.unref();
  }

  async take(key: string, rule: RateRule): Promise<boolean> {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: rule.burst, at: now };
    bucket.tokens = Math.min(
      rule.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * rule.perSecond,
    );
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private forgetFull(): void {
    const cutoff = this.now() - 60_000;
    for (const [key, bucket] of this.buckets) if (bucket.at < cutoff) this.buckets.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    this.buckets.clear();
  }
}

/** The contract's per-user limits for socket events. */
export const RATE_RULES = {
  sendMessage: { burst: 30, perSecond: 10 },
  typing: { burst: 20, perSecond: 5 },
} satisfies Record<string, RateRule>;

export type RateRules = typeof RATE_RULES;

/** The contract's limits scaled by `multiplier` (RATE_LIMIT_MULTIPLIER; benchmarks raise it). */
export function scaledRateRules(multiplier: number): RateRules {
  const scale = (rule: RateRule): RateRule => ({
    burst: Math.max(1, Math.round(rule.burst * multiplier)),
    perSecond: rule.perSecond * multiplier,
  });
  return { sendMessage: scale(RATE_RULES.sendMessage), typing: scale(RATE_RULES.typing) };
}
