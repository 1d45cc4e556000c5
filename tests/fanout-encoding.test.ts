import { describe, expect, test } from "bun:test";
import { decodeFanouts, encodeFanouts } from "../src/realtime/redis/broker.ts";

/** What crosses Redis between instances: many fan-outs in one PUBLISH. */
describe("the fan-out payload", () => {
  test("round-trips any messages, newlines, digits and non-ASCII included", () => {
    const fanouts = [
      { topic: "user:1", message: '{"event":"new-message","data":{"text":"héllo 👋"}}' },
      { topic: "chat:2:3", message: "12\n34\nnot json at all" },
      { topic: "control", message: "" },
      { topic: "user:4", message: "7\n" },
    ];
    expect(decodeFanouts(encodeFanouts(fanouts))).toEqual(fanouts);
  });

  test("still reads the one-fan-out form older instances send (rolling deploys)", () => {
    expect(decodeFanouts('user:1\n{"event":"pong","data":1}')).toEqual([
      { topic: "user:1", message: '{"event":"pong","data":1}' },
    ]);
  });

  test("a malformed payload is refused, not half-read", () => {
    expect(decodeFanouts("")).toBeUndefined();
    expect(decodeFanouts("no newline")).toBeUndefined();
    expect(decodeFanouts("user:1\n99\ntoo short")).toBeUndefined();
    expect(
      decodeFanouts(`${encodeFanouts([{ topic: "a", message: "b" }])}user:2\n{}`),
    ).toBeUndefined();
  });
});
