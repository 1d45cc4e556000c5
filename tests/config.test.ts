import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config.ts";
import { RATE_RULES, scaledRateRules } from "../src/realtime/rate-limit.ts";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("configuration", () => {
  test("defaults match the contract's table", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.nodeEnv).toBe("development");
    expect(config.mongodbUri).toBeUndefined();
    expect(config.corsOrigins).toEqual(["http://localhost:8081", "http://localhost:5173"]);
    expect(config.jwtSecretGenerated).toBe(true);
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(config.stream).toBeNull();
    expect(config.redisUrl).toBeUndefined();
    expect(config.rateLimitMultiplier).toBe(1);
  });

  test("aliases used by earlier deployments are honoured", () => {
    const config = loadConfig({
      DB_URL: "mongodb://db:27017/app",
      CLIENT_URL: "https://app.example.com",
    });
    expect(config.mongodbUri).toBe("mongodb://db:27017/app");
    expect(config.corsOrigins).toEqual(["https://app.example.com"]);
    expect(loadConfig({ MONGO_URI: "mongodb://x" }).mongodbUri).toBe("mongodb://x");
    expect(
      loadConfig({ FRONTEND_URL: "https://a.example, https://b.example" }).corsOrigins,
    ).toEqual(["https://a.example", "https://b.example"]);
  });

  test("empty values count as unset", () => {
    expect(loadConfig({ PORT: "", MONGODB_URI: "" }).port).toBe(3000);
  });

  test("every bad value is reported, one line each, without echoing secrets", () => {
    const problems = problemsOf({
      PORT: "eighty",
      NODE_ENV: "staging",
      MONGODB_URI: "postgres://nope",
      JWT_SECRET: "short-secret-value",
    });
    expect(problems.length).toBe(4);
    expect(problems.some((p) => p.startsWith("PORT:"))).toBe(true);
    expect(problems.some((p) => p.startsWith("NODE_ENV:"))).toBe(true);
    expect(problems.some((p) => p.startsWith("MONGODB_URI:"))).toBe(true);
    expect(problems.some((p) => p.startsWith("JWT_SECRET:"))).toBe(true);
    expect(problems.join("\n")).not.toContain("short-secret-value");
  });

  test("production requires a database and a JWT secret", () => {
    const problems = problemsOf({ NODE_ENV: "production" });
    expect(problems).toEqual([
      "MONGODB_URI: required when NODE_ENV=production",
      "JWT_SECRET: required when NODE_ENV=production",
    ]);
  });

  test("Stream needs both its key and its secret", () => {
    expect(problemsOf({ STREAM_API_KEY: "k" })).toEqual([
      "STREAM_API_KEY and STREAM_API_SECRET: set both or neither",
    ]);
    const config = loadConfig({ STREAM_API_KEY: "k", STREAM_API_SECRET: "s" });
    expect(config.stream).toEqual({ apiKey: "k", apiSecret: "s", baseUrl: undefined });
  });

  test("a port out of range is refused", () => {
    expect(problemsOf({ PORT: "70000" })).toEqual(["PORT: must be between 0 and 65535"]);
  });

  test("RATE_LIMIT_MULTIPLIER scales the socket rate limits and must be above 0", () => {
    expect(loadConfig({ RATE_LIMIT_MULTIPLIER: "100" }).rateLimitMultiplier).toBe(100);
    expect(loadConfig({ RATE_LIMIT_MULTIPLIER: "0.5" }).rateLimitMultiplier).toBe(0.5);
    expect(problemsOf({ RATE_LIMIT_MULTIPLIER: "0" })).toEqual([
      "RATE_LIMIT_MULTIPLIER: must be above 0",
    ]);
    expect(problemsOf({ RATE_LIMIT_MULTIPLIER: "lots" }).length).toBe(1);
  });

  test("REQUEST_BODY_TIMEOUT_MS is 10 s by default and at least 100 ms", () => {
    expect(loadConfig({}).requestBodyTimeoutMs).toBe(10_000);
    expect(loadConfig({ REQUEST_BODY_TIMEOUT_MS: "2500" }).requestBodyTimeoutMs).toBe(2500);
    expect(problemsOf({ REQUEST_BODY_TIMEOUT_MS: "50" })).toEqual([
      "REQUEST_BODY_TIMEOUT_MS: must be at least 100",
    ]);
    expect(problemsOf({ REQUEST_BODY_TIMEOUT_MS: "soon" }).length).toBe(1);
  });

  test("ICE servers: none by default, TURN credentials valid a day", () => {
    expect(loadConfig({}).ice).toEqual({ stunUrls: [], turn: null, ttlSeconds: 86_400 });
  });

  test("STUN_URLS and TURN_URLS are comma-separated lists; TURN_TTL is in seconds", () => {
    const config = loadConfig({
      STUN_URLS: "stun:stun.example.org:3478, stuns:stun.example.org:5349",
      TURN_URLS: "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349",
      TURN_SECRET: "shared-with-coturn",
      TURN_TTL: "3600",
    });
    expect(config.ice).toEqual({
      stunUrls: ["stun:stun.example.org:3478", "stuns:stun.example.org:5349"],
      turn: {
        urls: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
        secret: "shared-with-coturn",
      },
      ttlSeconds: 3600,
    });
  });

  test("TURN_URLS without TURN_SECRET is one problem, and so is the reverse", () => {
    expect(problemsOf({ TURN_URLS: "turn:turn.example.org:3478" })).toEqual([
      "TURN_URLS: needs TURN_SECRET (the TURN server's static-auth-secret)",
    ]);
    const problems = problemsOf({ TURN_SECRET: "lonely-secret-value" });
    expect(problems).toEqual(["TURN_SECRET: set without TURN_URLS"]);
    expect(problems.join("\n")).not.toContain("lonely-secret-value");
  });

  test("ICE URLs must have their scheme; TURN_TTL at least 60 seconds", () => {
    expect(
      problemsOf({
        STUN_URLS: "stun.example.org:3478",
        TURN_URLS: "https://turn.example.org",
        TURN_SECRET: "s",
      }),
    ).toEqual([
      'STUN_URLS: "stun.example.org:3478" is not a stun: URL',
      'TURN_URLS: "https://turn.example.org" is not a turn: URL',
    ]);
    expect(problemsOf({ TURN_TTL: "59" })).toEqual(["TURN_TTL: must be at least 60 (seconds)"]);
    expect(problemsOf({ TURN_TTL: "a day" }).length).toBe(1);
  });

  test("scaled rate rules keep the contract's by default", () => {
    expect(scaledRateRules(1)).toEqual(RATE_RULES);
    expect(scaledRateRules(100).typing).toEqual({ burst: 2000, perSecond: 500 });
  });
});
