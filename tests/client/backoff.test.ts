import { describe, expect, test } from "bun:test";
import { Backoff } from "../../src/client/index.ts";

/** The reconnect policy with its defaults: full jitter, first within 1 s, at most 30 s. */
describe("reconnect backoff", () => {
  const waits = (random: () => number, count: number) => {
    const backoff = new Backoff({ random });
    return Array.from({ length: count }, () => backoff.next());
  };

  test("the caps double from 1 s to 30 s, and each wait is anywhere below its cap", () => {
    expect(waits(() => 0.999999, 8)).toEqual([999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
    expect(waits(() => 0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    const spread = waits(Math.random, 200);
    expect(spread[0]).toBeLessThan(1000);
    expect(Math.max(...spread)).toBeLessThan(30_000);
  });

  test("a connection that stayed open 10 s starts the count again; a short one does not", () => {
    const backoff = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 5; i++) backoff.next();
    backoff.closedAfter(9_000);
    expect(backoff.next()).toBe(15_000);
    backoff.closedAfter(10_000);
    expect(backoff.next()).toBe(500);
  });
});
