import type { Auth } from "./auth.ts";
import { ClientError, type Message } from "./types.ts";

type Input = Parameters<typeof fetch>[0];

/**
 * `fetch` as the client makes it: the token as a Bearer header (else the cookie, with
 * `credentials`), and one retry with a fresh token after a 401. Eden's treaty uses it too.
 */
export function authorizedFetch(auth: Auth, credentials: RequestInit["credentials"]): typeof fetch {
  const call = async (token: string | undefined, input: Input, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { credentials, ...init, headers });
  };
  return (async (input: Input, init?: RequestInit) => {
    const token = await auth.current();
    const response = await call(token, input, init);
    // A body that is a stream cannot be sent twice; Eden's JSON bodies are strings.
    const body = init?.body;
    if (response.status !== 401 || !token || (body != null && typeof body !== "string")) {
      return response;
    }
    const fresh = await auth.refresh(token);
    return fresh ? call(fresh, input, init) : response;
  }) as typeof fetch;
}

/** The REST calls the realtime core needs, without Eden. */
export class Rest {
  constructor(
    private readonly baseUrl: string,
    private readonly fetch: typeof globalThis.fetch,
  ) {}

  /** A page of a chat's messages after `after`, ascending: how a gap is filled. */
  messagesAfter(chatId: string, after: number): Promise<{ messages: Message[]; hasMore: boolean }> {
    return this.get(`/api/messages/chat/${chatId}?after=${after}&limit=100`);
  }

  /** A chat's `version` now: where a channel given `after` alone starts following changes. */
  async chatVersion(chatId: string): Promise<number> {
    return (await this.get<{ chat: { version: number } }>(`/api/chats/${chatId}`)).chat.version;
  }

  /**
   * Whether the server takes our credentials, asked after an upgrade failed: a WebSocket never
   * shows the upgrade's status. Undefined when the server did not say (down, unavailable).
   */
  async signedIn(): Promise<boolean | undefined> {
    try {
      const response = await this.fetch(`${this.baseUrl}/api/auth/me`);
      await response.body?.cancel();
      return response.status === 401 ? false : response.ok || undefined;
    } catch {
      return undefined;
    }
  }

  private async get<T>(path: string): Promise<T> {
    const response = await this.fetch(this.baseUrl + path);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ClientError(body as object);
    return body as T;
  }
}
