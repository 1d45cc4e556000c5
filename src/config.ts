import { type Static, Type as T } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/**
 * The environment, read once at start. Every variable the contract names is here; nothing else in
 * the code reads `process.env`. Aliases (`DB_URL`, `CLIENT_URL`, ...) exist because the systems this
 * server succeeds used them, and their deployments still set them.
 */
const EnvSchema = T.Object({
  PORT: T.Optional(T.String({ pattern: "^[0-9]{1,5}$" })),
  NODE_ENV: T.Optional(
    T.Union([T.Literal("development"), T.Literal("production"), T.Literal("test")]),
  ),
  LOG_LEVEL: T.Optional(
    T.Union(
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => T.Literal(l)),
    ),
  ),
  MONGODB_URI: T.Optional(T.String({ pattern: "^mongodb(\\+srv)?://" })),
  JWT_SECRET: T.Optional(T.String({ minLength: 32 })),
  CORS_ORIGINS: T.Optional(T.String()),
  CLERK_SECRET_KEY: T.Optional(T.String({ minLength: 1 })),
  CLERK_JWT_KEY: T.Optional(T.String({ pattern: "-----BEGIN PUBLIC KEY-----" })),
  CLERK_AUTHORIZED_PARTIES: T.Optional(T.String()),
  CLERK_API_URL: T.Optional(T.String({ pattern: "^https?://" })),
  CLERK_WEBHOOK_SIGNING_SECRET: T.Optional(T.String({ pattern: "^whsec_" })),
  STREAM_API_KEY: T.Optional(T.String({ minLength: 1 })),
  STREAM_API_SECRET: T.Optional(T.String({ minLength: 1 })),
  STREAM_BASE_URL: T.Optional(T.String({ pattern: "^https?://" })),
  STREAM_CLEANUP_INTERVAL_MS: T.Optional(T.String({ pattern: "^[0-9]{1,9}$" })),
  REDIS_URL: T.Optional(T.String({ pattern: "^rediss?://" })),
  RATE_LIMIT_MULTIPLIER: T.Optional(T.String({ pattern: "^[0-9]+(\\.[0-9]+)?$" })),
  REQUEST_BODY_TIMEOUT_MS: T.Optional(T.String({ pattern: "^[0-9]{1,9}$" })),
  STUN_URLS: T.Optional(T.String()),
  TURN_URLS: T.Optional(T.String()),
  TURN_SECRET: T.Optional(T.String({ minLength: 1 })),
  TURN_TTL: T.Optional(T.String({ pattern: "^[0-9]{1,9}$" })),
  EXPO_PUSH_ENABLED: T.Optional(T.Union([T.Literal("true"), T.Literal("false")])),
  EXPO_ACCESS_TOKEN: T.Optional(T.String({ minLength: 1 })),
  PUSH_RECEIPT_DELAY_MS: T.Optional(T.String({ pattern: "^[0-9]{1,9}$" })),
  PUSH_RETRY_BASE_MS: T.Optional(T.String({ pattern: "^[0-9]{1,9}$" })),
  METRICS_TOKEN: T.Optional(T.String({ minLength: 16 })),
});
type Env = Static<typeof EnvSchema>;

const ALIASES: Record<string, readonly string[]> = {
  MONGODB_URI: ["DB_URL", "MONGO_URI"],
  CORS_ORIGINS: ["CLIENT_URL", "FRONTEND_URL", "CORS_ORIGIN"],
};

const DEFAULT_CORS_ORIGINS = ["http://localhost:8081", "http://localhost:5173"];

export interface Config {
  port: number;
  nodeEnv: "development" | "production" | "test";
  logLevel: string;
  /** Unset: the embedded store starts in-process. */
  mongodbUri: string | undefined;
  corsOrigins: string[];
  jwtSecret: string;
  /** True when no JWT_SECRET was given and one was made up for this run. */
  jwtSecretGenerated: boolean;
  clerk: {
    secretKey: string | undefined;
    jwtKey: string | undefined;
    authorizedParties: string[];
    apiUrl: string | undefined;
    webhookSigningSecret: string | undefined;
  };
  stream: { apiKey: string; apiSecret: string; baseUrl: string | undefined } | null;
  /** How often Stream deletes that failed (a session's call and channel) are retried, at first. */
  streamCleanupIntervalMs: number;
  redisUrl: string | undefined;
  /** Scales every per-user socket rate limit (burst and rate); 1 is the contract's limits. */
  rateLimitMultiplier: number;
  /** How long a whole request body may take to arrive before the answer is 408. */
  requestBodyTimeoutMs: number;
  /** The ICE servers handed to callers (`GET /api/call/ice-servers`). */
  ice: IceConfig;
  /** Push notifications through Expo; null when EXPO_PUSH_ENABLED is not "true". */
  push: PushConfig | null;
  /** What `GET /metrics` asks for as a Bearer token; open when unset. */
  metricsToken: string | undefined;
}

export interface PushConfig {
  /** Expo's "enhanced security" access token; unset when the project does not require one. */
  accessToken: string | undefined;
  /** How long after a push its receipt is asked for (Expo: about 15 minutes). */
  receiptDelayMs: number;
  /** The first retry's delay when Expo fails (5xx, 429, network); each retry doubles it. */
  retryBaseMs: number;
}

export interface IceConfig {
  /** `stun:` / `stuns:` URLs, handed out as they are. */
  stunUrls: string[];
  /** TURN with credentials by the TURN REST API scheme (coturn's `use-auth-secret`); null when off. */
  turn: { urls: string[]; secret: string } | null;
  /** How long a handed-out TURN credential stays valid. */
  ttlSeconds: number;
}

/** A day, as the TURN REST API draft suggests. */
const DEFAULT_TURN_TTL_SECONDS = 86_400;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Empty strings count as unset: `.env` files often carry `KEY=` lines. */
function pickEnv(source: Record<string, string | undefined>): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const names = [key, ...(ALIASES[key] ?? [])];
    const value = names
      .map((name) => source[name]?.trim())
      .find((v) => v !== undefined && v !== "");
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function describe(path: string, message: string): string {
  const name = path.replace(/^\//, "") || "environment";
  return `${name}: ${message}`;
}

/** Reads and validates the configuration; throws ConfigError listing every problem at once. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const env = pickEnv(source);
  const problems = [...Value.Errors(EnvSchema, env)].map((e) => describe(e.path, e.message));
  if (problems.length > 0) throw new ConfigError(problems);
  const valid = env as Env;

  const nodeEnv = valid.NODE_ENV ?? "development";
  const port = Number(valid.PORT ?? 3000);
  if (port > 65535) problems.push("PORT: must be between 0 and 65535");
  if (nodeEnv === "production") {
    if (!valid.MONGODB_URI) problems.push("MONGODB_URI: required when NODE_ENV=production");
    if (!valid.JWT_SECRET) problems.push("JWT_SECRET: required when NODE_ENV=production");
  }
  const rateLimitMultiplier = Number(valid.RATE_LIMIT_MULTIPLIER ?? 1);
  if (!(rateLimitMultiplier > 0)) problems.push("RATE_LIMIT_MULTIPLIER: must be above 0");
  const streamCleanupIntervalMs = Number(valid.STREAM_CLEANUP_INTERVAL_MS ?? 30_000);
  if (streamCleanupIntervalMs < 10) {
    problems.push("STREAM_CLEANUP_INTERVAL_MS: must be at least 10");
  }
  const requestBodyTimeoutMs = Number(valid.REQUEST_BODY_TIMEOUT_MS ?? 10_000);
  if (requestBodyTimeoutMs < 100) problems.push("REQUEST_BODY_TIMEOUT_MS: must be at least 100");
  if (Boolean(valid.STREAM_API_KEY) !== Boolean(valid.STREAM_API_SECRET)) {
    problems.push("STREAM_API_KEY and STREAM_API_SECRET: set both or neither");
  }
  const corsOrigins = valid.CORS_ORIGINS ? list(valid.CORS_ORIGINS) : DEFAULT_CORS_ORIGINS;
  for (const origin of corsOrigins) {
    if (origin !== "*" && !URL.canParse(origin))
      problems.push(`CORS_ORIGINS: "${origin}" is not a URL`);
  }
  const ice = iceConfig(valid, problems);
  const push = pushConfig(valid, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port,
    nodeEnv,
    logLevel: valid.LOG_LEVEL ?? (nodeEnv === "test" ? "silent" : "info"),
    mongodbUri: valid.MONGODB_URI,
    corsOrigins,
    jwtSecret: valid.JWT_SECRET ?? randomSecret(),
    jwtSecretGenerated: !valid.JWT_SECRET,
    clerk: {
      secretKey: valid.CLERK_SECRET_KEY,
      jwtKey: valid.CLERK_JWT_KEY,
      authorizedParties: list(valid.CLERK_AUTHORIZED_PARTIES),
      apiUrl: valid.CLERK_API_URL,
      webhookSigningSecret: valid.CLERK_WEBHOOK_SIGNING_SECRET,
    },
    stream:
      valid.STREAM_API_KEY && valid.STREAM_API_SECRET
        ? {
            apiKey: valid.STREAM_API_KEY,
            apiSecret: valid.STREAM_API_SECRET,
            baseUrl: valid.STREAM_BASE_URL,
          }
        : null,
    streamCleanupIntervalMs,
    redisUrl: valid.REDIS_URL,
    rateLimitMultiplier,
    requestBodyTimeoutMs,
    ice,
    push,
    metricsToken: valid.METRICS_TOKEN,
  };
}

/** EXPO_PUSH_ENABLED, EXPO_ACCESS_TOKEN and the push timings. */
function pushConfig(valid: Env, problems: string[]): PushConfig | null {
  const receiptDelayMs = Number(valid.PUSH_RECEIPT_DELAY_MS ?? 15 * 60 * 1000);
  if (receiptDelayMs < 10) problems.push("PUSH_RECEIPT_DELAY_MS: must be at least 10");
  const retryBaseMs = Number(valid.PUSH_RETRY_BASE_MS ?? 1000);
  if (retryBaseMs < 1) problems.push("PUSH_RETRY_BASE_MS: must be at least 1");
  if (valid.EXPO_PUSH_ENABLED !== "true") return null;
  return { accessToken: valid.EXPO_ACCESS_TOKEN, receiptDelayMs, retryBaseMs };
}

/** STUN_URLS, TURN_URLS, TURN_SECRET, TURN_TTL; each problem is one line in `problems`. */
function iceConfig(valid: Env, problems: string[]): IceConfig {
  const stunUrls = list(valid.STUN_URLS);
  const turnUrls = list(valid.TURN_URLS);
  for (const url of stunUrls) {
    if (!/^stuns?:[^\s]+$/.test(url)) problems.push(`STUN_URLS: "${url}" is not a stun: URL`);
  }
  for (const url of turnUrls) {
    if (!/^turns?:[^\s]+$/.test(url)) problems.push(`TURN_URLS: "${url}" is not a turn: URL`);
  }
  // A TURN server with no secret would be handed out without credentials (useless, since coturn
  // refuses them), and a secret with no server is a setting that was meant to do something.
  if (turnUrls.length > 0 && !valid.TURN_SECRET) {
    problems.push("TURN_URLS: needs TURN_SECRET (the TURN server's static-auth-secret)");
  } else if (valid.TURN_SECRET && turnUrls.length === 0) {
    problems.push("TURN_SECRET: set without TURN_URLS");
  }
  const ttlSeconds = Number(valid.TURN_TTL ?? DEFAULT_TURN_TTL_SECONDS);
  if (ttlSeconds < 60) problems.push("TURN_TTL: must be at least 60 (seconds)");
  return {
    stunUrls,
    turn:
      turnUrls.length > 0 && valid.TURN_SECRET
        ? { urls: turnUrls, secret: valid.TURN_SECRET }
        : null,
    ttlSeconds,
  };
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}
