import { Elysia, t } from "elysia";
import { UnavailableError } from "../../errors.ts";

/** Something readiness depends on: the database, later the broker. */
export type ReadinessCheck = () => Promise<boolean>;

export function healthModule(checks: ReadinessCheck[]) {
  return new Elysia({ name: "health", detail: { tags: ["health"] } })
    .get("/health", () => ({ status: "ok" as const }), {
      detail: { summary: "Liveness: answers without touching any dependency" },
      response: t.Object({ status: t.Literal("ok") }),
    })
    .get(
      "/ready",
      async () => {
        const results = await Promise.all(checks.map((check) => check().catch(() => false)));
        if (results.includes(false)) throw new UnavailableError("A dependency is not answering");
        return { status: "ready" as const };
      },
      {
        detail: { summary: "Readiness: 200 when the database answers a ping, else 503" },
        response: t.Object({ status: t.Literal("ready") }),
      },
    );
}
