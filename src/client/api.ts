/**
 * REST through Eden's treaty over the server's `App` type: every route, its body, its answer and
 * its error statuses typed. Kept apart from the realtime core so that a bundle can be measured,
 * or built, with `@elysiajs/eden` external.
 */
import { treaty } from "@elysiajs/eden/treaty2";
import type { App } from "../app.ts";

export type Api = ReturnType<typeof treaty<App>>;

/** `fetcher` adds the token and retries a 401 once with a fresh one (see http.ts). */
export function createApi(baseUrl: string, fetcher: typeof fetch): Api {
  return treaty<App>(baseUrl, { fetcher });
}
