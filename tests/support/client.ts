/**
 * What the client SDK's tests share: a storage like AsyncStorage (async, in memory), a recorder
 * of what one chat delivered to the app, and waiting for a condition.
 */
import type {
  ChatChannel,
  Client,
  Message,
  MessageDeleted,
  Status,
  Storage,
} from "../../src/client/index.ts";

/** AsyncStorage's shape, in memory: every call answers a tick later. */
export function memoryStorage(): Storage & { readonly items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: async (key) => items.get(key) ?? null,
    setItem: async (key, value) => {
      items.set(key, value);
    },
    removeItem: async (key) => {
      items.delete(key);
    },
  };
}

/** Polls `condition` every 20 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Everything `on("message")` of one chat handed to the app, in order. */
export function recordMessages(chat: ChatChannel): Message[] {
  const seen: Message[] = [];
  chat.on("message", (message) => seen.push(message));
  return seen;
}

/** Every status a client went through, from now on. */
export function recordStatuses(client: Client): Status[] {
  const seen: Status[] = [client.status];
  client.on("status", (status) => seen.push(status));
  return seen;
}

/** Waits until the client has been through `status` `times` times in all (counting from `seen`). */
export function reached(seen: Status[], status: Status, times = 1): () => boolean {
  return () => seen.filter((s) => s === status).length >= times;
}

/** Everything one chat handed to the app: its messages, updates and deletions, each in order. */
export function recordChat(chat: ChatChannel): {
  messages: Message[];
  updates: Message[];
  deletes: MessageDeleted[];
} {
  const seen = {
    messages: recordMessages(chat),
    updates: [] as Message[],
    deletes: [] as MessageDeleted[],
  };
  chat.on("update", (message) => seen.updates.push(message));
  chat.on("delete", (deletion) => seen.deletes.push(deletion));
  return seen;
}
