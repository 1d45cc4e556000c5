/**
 * Type test, compiled by `bunx tsc --noEmit` and never run: the README's Vite example ("Clients"),
 * verbatim between the two markers (tests/client/readme-examples.test.ts holds the README to it).
 * If the SDK's API or a route's shape changes under it, this stops compiling.
 */

// ---- README: Vite ----
// src/chat.ts in the Vite app (no UI framework: call these from your components)
import {
  type ChatChannel,
  type Client,
  type ClientOptions,
  createClient,
  type Message,
} from "interview-chat-server/client";

const options: ClientOptions = {
  // The page and the server must be on the same site for the cookie: localhost:5173 and
  // localhost:3000 are, 127.0.0.1 and localhost are not (then sign in with the token instead).
  baseUrl: import.meta.env.VITE_API_URL ?? "http://localhost:3000",
  credentials: "include", // REST sends the httpOnly `token` cookie; the browser adds it to /ws too
  storage: localStorage, // a send not yet acknowledged is sent again after a reload
};

function connect(): Client {
  const next = createClient(options);
  // "connecting", "open", "reconnecting" or "closed": for a banner
  next.on("status", (status) => console.log("socket", status));
  // User ids, among the people you share a chat with, that have a socket open
  next.on("presence", ({ online }) => console.log("online", [...online]));
  next.on("error", (error) => console.warn(error.code, error.message));
  return next;
}

// With the cookie from an earlier visit, the socket opens at once. Without it the upgrade is
// refused and the client closes (status "closed", an UNAUTHORIZED error); its `api` still works.
let client = connect();

export async function signIn(email: string, password: string): Promise<string> {
  // Eden types the body, the answer and each error status; the server sets the cookie.
  const { data, error } = await client.api.api.auth.login.post({ email, password });
  if (error) throw new Error(error.value.message); // 401 for any bad pair, 429 with retryAfter
  client.close();
  client = connect(); // a new socket, with the cookie
  return data.user.name;
}

export async function openChat(otherUserId: string): Promise<ChatChannel> {
  const { data, error } = await client.api.api.chats.with({ participantId: otherUserId }).post();
  if (error) throw new Error(error.value.message);
  // Joined now and after every reconnect; `{ after: seq }` starts after what you already have.
  const chat = client.chat(data.chat._id);
  chat.on("message", (message: Message) => {
    // Each message once and in seq order, your own included, whatever the socket went through.
    console.log(`#${message.seq} ${message.sender.name}: ${message.text}`);
    chat.markRead(message.seq);
  });
  chat.on("typing", ({ userId, isTyping }) => console.log(userId, isTyping ? "typing" : "stopped"));
  chat.on("read", ({ userId, seq }) => console.log(userId, "read up to", seq));
  return chat;
}

/** On each keystroke: sent now and then while it lasts, and it stops by itself after 5 s. */
export function onInput(chat: ChatChannel, text: string): void {
  chat.typing(text.length > 0);
}

/**
 * Resolves with the stored message once the server acknowledges it, across reconnects; rejects
 * only when the server refuses it for good (a ClientError, e.g. VALIDATION) or on `close()`.
 */
export function onSubmit(chat: ChatChannel, text: string): Promise<Message> {
  return chat.send(text);
}

export async function signOut(): Promise<void> {
  await client.api.api.auth.logout.post(); // revokes the sign-in, clears the cookie
  client.close();
}
// ---- end ----

/** What a Vite app has from the DOM library, which this repository does not compile with. */
declare const localStorage: {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
};
