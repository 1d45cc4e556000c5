import { expect } from "bun:test";
import { Types } from "mongoose";
import type { Api, ApiResponse } from "./http.ts";
import type { TestUser } from "./users.ts";
import type { Frame, TestSocket } from "./ws.ts";

/** What a chat test needs of an instance: a TestApp, or either of `twoInstances()`. */
export interface ChatInstance {
  readonly api: Api;
  socket(token?: string): Promise<TestSocket>;
}

/** `POST /api/chats`: a group of `creator` (its admin) and `others`; returns the chat. */
export async function createGroup(
  api: Api,
  creator: TestUser,
  others: TestUser[],
  name = "Group",
): Promise<any> {
  const res = await api("/api/chats", {
    token: creator.token,
    body: { name, participantIds: others.map((u) => u.id) },
  });
  if (res.status !== 201) {
    throw new Error(`create group failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.chat;
}

/** `POST /api/messages/chat/:chatId` as `sender`; returns the stored message. */
export async function post(
  api: Api,
  sender: TestUser,
  chatId: string,
  text: string,
  extra: { clientId?: string; replyTo?: string } = {},
): Promise<any> {
  const res = await api(`/api/messages/chat/${chatId}`, {
    token: sender.token,
    body: { text, ...extra },
  });
  if (res.status !== 201) {
    throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.message;
}

/** A socket of `user` that has heard `online-users`, so it already follows everything sent to them. */
export async function connected(app: ChatInstance, user: TestUser): Promise<TestSocket> {
  const socket = await app.socket(user.token);
  await socket.next("online-users");
  return socket;
}

/** A connected socket that has also joined `chatId` (typing and, in groups, read marks). */
export async function inChat(app: ChatInstance, user: TestUser, chatId: string) {
  const socket = await connected(app, user);
  socket.send("join-chat", chatId, "join");
  await socket.next("chat-joined", (d) => d.chatId === chatId);
  return socket;
}

/** One socket per user, in the same order: connected, and joined to `chatId` when one is given. */
export function socketsOf<const U extends readonly TestUser[]>(
  app: ChatInstance,
  users: U,
  chatId?: string,
): Promise<{ -readonly [K in keyof U]: TestSocket }> {
  const sockets = users.map((u) => (chatId ? inChat(app, u, chatId) : connected(app, u)));
  return Promise.all(sockets) as Promise<any>;
}

/** The frames of `event` this socket has received so far that match. */
export function events(
  socket: TestSocket,
  event: string,
  match: (data: any) => boolean = () => true,
): Frame[] {
  return socket.frames.filter((f) => f.event === event && match(f.data));
}

let refs = 0;

/**
 * A ping and its pong. The server handles one socket's frames in order, one at a time, so once the
 * pong is here so is every answer to the frames this socket sent before the ping.
 */
export async function roundTrip(socket: TestSocket): Promise<void> {
  const ref = `sync-${++refs}`;
  socket.send("ping", ref, ref);
  await socket.next("pong", (d) => d === ref);
}

/** Sends `event` with a ref of its own and returns the server's answer: any frame carrying that ref. */
export async function answer(socket: TestSocket, event: string, data: unknown): Promise<Frame> {
  const ref = `act-${++refs}`;
  socket.send(event, data, ref);
  await roundTrip(socket);
  const answered = socket.frames.find(
    (f) => f.ref === ref || (f.event === "socket-error" && f.data?.ref === ref),
  );
  if (!answered) throw new Error(`no answer to ${event} (${ref})`);
  return answered;
}

/** Participants' (or users') ids, sorted: membership compared as a set. */
export function idsOf(people: ({ _id: string } | { id: string })[]): string[] {
  return people.map((p) => ("_id" in p ? p._id : p.id)).sort();
}

/** An id no document has. */
export const unknownId = (): string => new Types.ObjectId().toHexString();

/** A REST answer was this error. */
export function expectError(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
}

/** A socket's answer was a `socket-error` with this code. */
export function expectRefused(frame: Frame, code: string): void {
  expect({ event: frame.event, code: frame.data?.code }).toEqual({ event: "socket-error", code });
}

/** Each number above the one before: versions may skip, never repeat or go back. */
export function expectAscending(numbers: number[]): void {
  for (let i = 1; i < numbers.length; i++) expect(numbers[i]!).toBeGreaterThan(numbers[i - 1]!);
}

/** A message's reactions with each emoji's users sorted (their order within an emoji is not specified). */
export const reactionsOf = (message: { reactions: { emoji: string; userIds: string[] }[] }) =>
  message.reactions.map((r) => ({ emoji: r.emoji, userIds: [...r.userIds].sort() }));
