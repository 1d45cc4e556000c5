import { cors } from "@elysiajs/cors";
import { Elysia } from "elysia";
import { type Clock, systemClock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/index.ts";
import { createModels } from "./db/models/index.ts";
import { ClerkGateway } from "./modules/auth/clerk.ts";
import { authModule, PASSWORD_ROUTES } from "./modules/auth/index.ts";
import { AuthService } from "./modules/auth/service.ts";
import { SignIns } from "./modules/auth/sign-ins.ts";
import { BuiltInTokens } from "./modules/auth/tokens.ts";
import { IceServers } from "./modules/calls/ice-servers.ts";
import { callsModule } from "./modules/calls/index.ts";
import { callSocket } from "./modules/calls/socket.ts";
import { chatsModule } from "./modules/chats/index.ts";
import { ChatService } from "./modules/chats/service.ts";
import { chatSocket } from "./modules/chats/socket.ts";
import { devicesModule } from "./modules/devices/index.ts";
import { DeviceService } from "./modules/devices/service.ts";
import { healthModule } from "./modules/health/index.ts";
import { messagesModule } from "./modules/messages/index.ts";
import { MessageService } from "./modules/messages/service.ts";
import { PushNotifier } from "./modules/push/notifier.ts";
import { RealtimeGateway } from "./modules/realtime/gateway.ts";
import { realtimeModule } from "./modules/realtime/index.ts";
import { roomsModule } from "./modules/rooms/index.ts";
import { RoomService } from "./modules/rooms/service.ts";
import { roomCall, roomSocket } from "./modules/rooms/socket.ts";
import { sessionChatModule } from "./modules/session-chat/index.ts";
import { SessionChatMembers } from "./modules/session-chat/members.ts";
import { SessionChatService } from "./modules/session-chat/service.ts";
import { SessionEditor } from "./modules/sessions/editor.ts";
import { sessionsModule } from "./modules/sessions/index.ts";
import { SessionNotes } from "./modules/sessions/notes.ts";
import { SessionService } from "./modules/sessions/service.ts";
import { sessionCall, sessionSocket } from "./modules/sessions/socket.ts";
import { StreamCleanup } from "./modules/sessions/stream-cleanup.ts";
import { streamModule } from "./modules/stream/index.ts";
import { StreamService } from "./modules/stream/service.ts";
import { usersModule } from "./modules/users/index.ts";
import { UsersService } from "./modules/users/service.ts";
import { webhooksModule } from "./modules/webhooks/index.ts";
import { ClerkEvents } from "./modules/webhooks/service.ts";
import { Authenticator, authPlugin } from "./plugins/auth.ts";
import { BACKSTOP_BODY_BYTES, bodyLimit } from "./plugins/body-limit.ts";
import { csrfGuard } from "./plugins/csrf.ts";
import { databaseGate } from "./plugins/database-gate.ts";
import { apiDocs } from "./plugins/docs.ts";
import { errorHandler } from "./plugins/errors.ts";
import { inputGuard } from "./plugins/input-guard.ts";
import { type Logger, requestLogger } from "./plugins/logger.ts";
import { AppMetrics, metricsPlugin } from "./plugins/metrics.ts";
import { securityHeaders } from "./plugins/security.ts";
import { createRealtime, type RealtimeOptions } from "./realtime/index.ts";
import { scaledRateRules } from "./realtime/rate-limit.ts";

export interface AppDeps {
  config: Config;
  db: Database;
  log: Logger;
  clock?: Clock;
  /** Redis namespace and presence timing; tests shorten them. */
  realtime?: RealtimeOptions;
}

/** Builds the whole app from its dependencies without listening: tests start as many as they like. */
export function createApp({ config, db, log, clock = systemClock, realtime: tuning }: AppDeps) {
  const models = createModels(db.connection);
  const users = new UsersService(models.User);
  const tokens = new BuiltInTokens(config.jwtSecret, clock);
  const clerk = ClerkGateway.fromConfig(config.clerk);
  const stream = StreamService.fromConfig(config.stream, log);
  const realtime = createRealtime(config, log, tuning);
  const signIns = new SignIns({ model: models.SignIn, hub: realtime.hub, clock });
  const authenticator = new Authenticator({ tokens, signIns, clerk, users, log });
  const auth = authPlugin(authenticator);
  const chats = new ChatService(models, realtime.hub, realtime.presence);
  const devices = new DeviceService(models);
  // Off: devices still register (the app does so at start-up), and nothing is pushed.
  const push = config.push
    ? PushNotifier.fromConfig(config.push, { presence: realtime.presence, devices, log, clock })
    : undefined;
  const metrics = new AppMetrics({
    // The gateway is made below, with the features that need the message service.
    socketsOpen: (): number => gateway.socketsOpen,
    framesPublished: () => realtime.hub.framesPublished,
    databaseUp: () => db.reachable,
    redisUp: config.redisUrl ? () => realtime.broker.connected() : undefined,
  });
  const messages = new MessageService(
    models,
    realtime.hub,
    chats,
    push ? [metrics, push] : [metrics],
  );
  const cleanup = stream
    ? new StreamCleanup({ models, stream, clock, log, intervalMs: config.streamCleanupIntervalMs })
    : null;
  const sessionChatMembers = new SessionChatMembers({ models, chats, log });
  const sessions = new SessionService({
    models,
    hub: realtime.hub,
    chat: sessionChatMembers,
    stream,
    cleanup,
    clock,
    log,
  });
  const editor = new SessionEditor({ models, hub: realtime.hub, clock, log });
  const rooms = new RoomService({ models, hub: realtime.hub });
  const { hub, limiter, roomPresence } = realtime;
  const rules = scaledRateRules(config.rateLimitMultiplier);
  const gateway = new RealtimeGateway({
    ...realtime,
    chats,
    features: [
      chatSocket({ chats, messages, hub, limiter, rules }),
      sessionSocket(sessions, editor),
      roomSocket({ rooms, hub, presence: roomPresence, log }),
      callSocket({ session: sessionCall(sessions, hub), room: roomCall(rooms, hub) }),
    ],
    signIns,
    databaseReachable: () => db.reachable,
    log,
  });
  const app = new Elysia({ serve: { maxRequestBodySize: BACKSTOP_BODY_BYTES } })
    .use(requestLogger(log))
    .use(securityHeaders(config.nodeEnv === "production"))
    .use(errorHandler(log))
    .use(bodyLimit(config.requestBodyTimeoutMs))
    .use(inputGuard)
    .use(
      cors({
        origin: config.corsOrigins.includes("*") ? true : config.corsOrigins,
        credentials: true,
        exposeHeaders: ["x-request-id", "retry-after"],
        // Seconds a browser may reuse a preflight's answer; the plugin's 5 s meant a preflight
        // before nearly every call. Ten minutes is within every browser's cap (Chromium 2 h,
        // Firefox 24 h) and short enough that a change to CORS_ORIGINS reaches open tabs soon.
        maxAge: 600,
      }),
    )
    .use(csrfGuard({ allowedOrigins: config.corsOrigins, exempt: PASSWORD_ROUTES }))
    .use(databaseGate(() => db.reachable))
    .use(
      apiDocs({
        title: "Interview chat server",
        version: "0.1.0",
        description:
          "Accounts, one-to-one chat with presence and typing, live interviews, and call rooms.",
      }),
    )
    .use(metricsPlugin(metrics, config.metricsToken))
    .use(healthModule([() => db.ping(), async () => realtime.broker.healthy()]))
    .use(
      authModule({
        auth,
        service: new AuthService({ users, tokens, signIns, clerk, limiter: realtime.limiter }),
        production: config.nodeEnv === "production",
      }),
    )
    .use(usersModule({ auth, users }))
    .use(streamModule({ auth, stream }))
    .use(
      webhooksModule({
        signingSecret: config.clerk.webhookSigningSecret,
        events: new ClerkEvents({ users, stream, hub: realtime.hub, log }),
      }),
    )
    .use(chatsModule({ auth, chats, messages }))
    .use(messagesModule({ auth, messages }))
    .use(devicesModule({ auth, devices }))
    .use(sessionsModule({ auth, sessions, editor, notes: new SessionNotes(models) }))
    .use(
      sessionChatModule({
        auth,
        sessionChat: new SessionChatService({
          models,
          sessions,
          members: sessionChatMembers,
          messages,
          stream,
        }),
      }),
    )
    .use(roomsModule({ auth, rooms }))
    .use(callsModule({ auth, iceServers: new IceServers(config.ice, clock) }))
    .use(realtimeModule({ auth, gateway, allowedOrigins: config.corsOrigins }))
    .onStart(({ server }) => {
      if (server) {
        realtime.attach(server, {
          control(message) {
            signIns.control(message);
            gateway.control(message);
          },
          positions: (message) => messages.heard(message),
        });
      }
      cleanup?.start();
    })
    .decorate("shutdown", async (closeActiveConnections = false) => {
      // Elysia's stop hooks run only after Bun has waited for every socket, and unawaited, so
      // the order is spelled out here: tell sockets we are going away (clients reconnect
      // elsewhere and resume with after=<seq>), let requests in flight finish, then let go of
      // presence, the broker and the retrier.
      gateway.closeAll(1001, "Server going away");
      await app.stop(closeActiveConnections);
      await gateway.stop();
      push?.stop();
      await cleanup?.stop();
      await realtime.close();
    });
  return app;
}

export type App = ReturnType<typeof createApp>;
