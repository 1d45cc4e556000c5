import type { Api } from "./http.ts";
import type { TestUser } from "./users.ts";

let counter = 0;

/** A problem text no other test uses, so a test can find its own session in shared lists. */
export function uniqueProblem(label = "Problem"): string {
  return `${label} ${++counter} ${crypto.randomUUID().slice(0, 8)}`;
}

/** Starts (or schedules) a session hosted by `host` through the real API and returns it. */
export async function createSession(
  api: Api,
  host: TestUser,
  body: {
    problem?: string;
    difficulty?: string;
    description?: string;
    scheduledFor?: string;
    durationMinutes?: number;
    inviteeId?: string;
  } = {},
): Promise<any> {
  const res = await api("/api/sessions", {
    token: host.token,
    body: { problem: uniqueProblem(), difficulty: "medium", ...body },
  });
  if (res.status !== 201) {
    throw new Error(`create session failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.session;
}

/** `POST /api/sessions/:id/<action>` as `user`. */
export function sessionAction(
  api: Api,
  user: TestUser,
  sessionId: string,
  action: "join" | "leave" | "end" | "start" | "cancel",
) {
  return api(`/api/sessions/${sessionId}/${action}`, { method: "POST", token: user.token });
}

/** An ISO date `minutes` from now: a `scheduledFor` in the future. */
export function fromNow(minutes: number): string {
  return new Date(Date.now() + minutes * 60_000).toISOString();
}

/** Polls `check` until it holds or `timeoutMs` runs out; returns whether it held. */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await Bun.sleep(20);
  }
  return check();
}
