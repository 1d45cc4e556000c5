import { expect } from "bun:test";
import type { TestApp } from "./app.ts";
import type { Api } from "./http.ts";
import { registerUser, type TestUser } from "./users.ts";

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

/** An ISO-8601 timestamp as the API writes dates. */
export const ISO = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
/** The Stream video call and chat channel of a session, by their Stream ids. */
export const CALL = (callId: string) => `default:${callId}`;
export const CHANNEL = (callId: string) => `messaging:${callId}`;

/** `n` fresh built-in accounts on `app`. */
export function users(app: TestApp, n: number): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: n }, () => registerUser(app.api)));
}
