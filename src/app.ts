import { cors } from "@elysiajs/cors";
import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/index.ts";
import { createModels } from "./db/models/index.ts";
import { healthModule } from "./modules/health/index.ts";
import { BACKSTOP_BODY_BYTES, bodyLimit } from "./plugins/body-limit.ts";
import { errorHandler } from "./plugins/errors.ts";
import { type Logger, requestLogger } from "./plugins/logger.ts";
import { securityHeaders } from "./plugins/security.ts";

export interface AppDeps {
  config: Config;
  db: Database;
  log: Logger;
  clock?: Clock;
}

/** Builds the whole app from its dependencies without listening: tests start as many as they like. */
export function createApp({ config, db, log, clock = systemClock }: AppDeps) {
  const models = createModels(db.connection);
  void clock;
  void models;
  return new Elysia({ serve: { maxRequestBodySize: BACKSTOP_BODY_BYTES } })
    .use(requestLogger(log))
    .use(securityHeaders(config.nodeEnv === "production"))
    .use(errorHandler(log))
    .use(bodyLimit)
    .use(
      cors({
        origin: config.corsOrigins.includes("*") ? true : config.corsOrigins,
        credentials: true,
        exposeHeaders: ["x-request-id", "retry-after"],
      }),
    )
    .use(
      swagger({
        path: "/swagger",
        documentation: {
          info: {
            title: "Interview chat server",
            version: "0.1.0",
            description: "Accounts, one-to-one chat with presence and typing, and live interviews.",
          },
        },
      }),
    )
    .use(healthModule([() => db.ping()]));
}

export type App = ReturnType<typeof createApp>;
