import type { Api } from "./http.ts";

export interface TestUser {
  id: string;
  name: string;
  email: string;
  token: string;
}

let counter = 0;

/** Registers a fresh built-in account through the real API. */
export async function registerUser(api: Api, name = `User ${++counter}`): Promise<TestUser> {
  const email = `${name.toLowerCase().replace(/\W+/g, ".")}.${crypto.randomUUID().slice(0, 8)}@example.com`;
  const res = await api("/api/auth/register", {
    method: "POST",
    body: { name, email, password: "correct horse battery" },
  });
  if (res.status !== 201)
    throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.user._id, name, email, token: res.body.token };
}

/** Opens (or finds) the chat between two users and returns its id. */
export async function chatBetween(api: Api, a: TestUser, b: TestUser): Promise<string> {
  const res = await api(`/api/chats/with/${b.id}`, { method: "POST", token: a.token });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`chat failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.chat._id;
}
