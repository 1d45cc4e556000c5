/**
 * Type test, compiled by `bunx tsc --noEmit` and never run: an Eden client sees the statuses each
 * route really answers, each with the contract's `{ message, code }` body. If a route's error
 * responses stop being declared, the narrowing below stops compiling; if a route starts claiming
 * a status it does not answer, the `@ts-expect-error` lines fail instead.
 */
import { treaty } from "@elysiajs/eden";
import type { App } from "../../src/app.ts";

const api = treaty<App>("http://localhost:3000");
const ID = "0123456789abcdef01234567";

export async function login(): Promise<string | undefined> {
  const r = await api.api.auth.login.post({ email: "ann@example.com", password: "secret-enough" });
  if (r.error?.status === 401) return r.error.value.code;
  if (r.error?.status === 400) return r.error.value.errors?.[0]?.path;
  if (r.error?.status === 429) return String(r.error.value.retryAfter);
  // @ts-expect-error login answers no 404: there is nothing to find
  if (r.error?.status === 404) return "never";
  return r.data?.token;
}

export async function register(): Promise<string | undefined> {
  const r = await api.api.auth.register.post({
    name: "Ann",
    email: "a@b.co",
    password: "12345678",
  });
  if (r.error?.status === 409) return r.error.value.code;
  if (r.error?.status === 415) return r.error.value.message;
  return r.data?.user._id;
}

export async function me(): Promise<string | undefined> {
  const r = await api.api.auth.me.get();
  if (r.error?.status === 401) return r.error.value.code;
  if (r.error?.status === 503) return r.error.value.message;
  // @ts-expect-error GET /api/auth/me takes no input, so it never answers 400
  if (r.error?.status === 400) return "never";
  return r.data?.user.name;
}

export async function user(): Promise<string | undefined> {
  const r = await api.api.users({ id: ID }).get();
  if (r.error?.status === 404) return r.error.value.code;
  if (r.error?.status === 400) return r.error.value.errors?.map((e) => e.message).join();
  // @ts-expect-error reading a user is never a conflict
  if (r.error?.status === 409) return "never";
  return r.data?.user.email;
}

export async function openChat(): Promise<string | undefined> {
  const r = await api.api.chats.with({ participantId: ID }).post();
  if (r.error?.status === 404) return r.error.value.code;
  if (r.error?.status === 403) return r.error.value.code;
  return r.data?.chat._id;
}

export async function send(): Promise<number | string | undefined> {
  const r = await api.api.messages.chat({ chatId: ID }).post({ text: "hi", clientId: "c1" });
  if (r.error?.status === 409) return r.error.value.code;
  if (r.error?.status === 413) return r.error.value.code;
  return r.data?.message.seq;
}

export async function joinSession(): Promise<string | undefined> {
  const r = await api.api.sessions({ id: ID }).join.post();
  if (r.error?.status === 409) return r.error.value.code;
  if (r.error?.status === 502) return r.error.value.code;
  return r.data?.session._id;
}

export async function streamToken(): Promise<string | undefined> {
  const r = await api.api.chat.token.get();
  if (r.error?.status === 503) return r.error.value.code;
  if (r.error?.status === 502) return r.error.value.code;
  // @ts-expect-error a token request has no resource to miss
  if (r.error?.status === 404) return "never";
  return r.data?.token;
}

export async function ready(): Promise<string | undefined> {
  const r = await api.ready.get();
  if (r.error?.status === 503) return r.error.value.code;
  return r.data?.status;
}
