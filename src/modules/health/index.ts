import { Elysia, t } from "elysia";
import { UnavailableError } from "../../errors.ts";
import { withErrors } from "../common/model.ts";

/** Something readiness depends on: the database, Redis. Resolves true when it answered a ping. */
export type ReadinessCheck = () => Promise<boolean>;

/** A dependency that takes longer than this to answer counts as down: a hung one is not ready. */
const CHECK_TIMEOUT_MS = 1000;

/** The check's answer, or false once `timeoutMs` pass without one. */
function answersWithin(check: ReadinessCheck, timeoutMs: number): Promise<boolean> {
  let timer: Timer | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const answer = check().catch(() => false);
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

export function healthModule(checks: ReadinessCheck[], timeoutMs = CHECK_TIMEOUT_MS) {
  return new Elysia({ name: "health", detail: { tags: ["health"] } })
    .get("/health", () => ({ status: "ok" as const }), {
      detail: { summary: "Liveness: answers without touching any dependency" },
      response: t.Object({ status: t.Literal("ok") }),
    })
    .get(
      "/ready",
      async () => {
        const results = await Promise.all(checks.map((check) => answersWithin(check, timeoutMs)));
        if (results.includes(false)) throw new UnavailableError("A dependency is not answering");
        return { status: "ready" as const };
      },
      {
        detail: {
          summary: "Readiness: 200 when every dependency answers a ping within 1 s, else 503",
        },
        response: withErrors(t.Object({ status: t.Literal("ready") }), [503]),
      },
    );
}
