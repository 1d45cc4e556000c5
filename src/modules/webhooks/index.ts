import { verifyWebhook } from "@clerk/backend/webhooks";
import { Elysia, t } from "elysia";
import { BadRequestError } from "../../errors.ts";
import { JSON_BODY, withErrors } from "../common/model.ts";
import type { ClerkEvents } from "./service.ts";

export const CLERK_WEBHOOK_PATH = "/api/webhooks/clerk";

export interface WebhooksModuleDeps {
  /** Unset: the webhook route does not exist (404). */
  signingSecret: string | undefined;
  events: ClerkEvents;
}

/**
 * Clerk's webhook. The signature covers the exact bytes Clerk sent, but the app's global JSON
 * parser (plugins/body-limit.ts) consumes the body before any route-level hook runs. So the raw
 * request is cloned on arrival, before parsing, for this one path; the size limit still applies
 * because the parser reads (and caps) the original.
 */
export function webhooksModule({ signingSecret, events }: WebhooksModuleDeps) {
  const app = new Elysia({ detail: { tags: ["webhooks"] } });
  if (!signingSecret) return app;

  const unparsed = new WeakMap<Request, Request>();
  return app
    .onRequest(({ request }) => {
      if (request.method !== "POST") return;
      if (new URL(request.url).pathname === CLERK_WEBHOOK_PATH) {
        // Bun's typings give clone() undici's Request type; it is the same runtime class.
        unparsed.set(request, request.clone() as unknown as Request);
      }
    })
    .post(
      CLERK_WEBHOOK_PATH,
      async ({ request }) => {
        const raw = unparsed.get(request) ?? request;
        let event: Awaited<ReturnType<typeof verifyWebhook>>;
        try {
          event = await verifyWebhook(raw, { signingSecret });
        } catch {
          throw new BadRequestError("The webhook signature is invalid", "INVALID_SIGNATURE");
        }
        const outcome = await events.apply(event);
        return { received: true as const, type: event.type, outcome };
      },
      {
        response: withErrors(
          t.Object({
            received: t.Literal(true),
            type: t.String(),
            outcome: t.Union([t.Literal("synced"), t.Literal("deleted"), t.Literal("ignored")]),
          }),
          [...JSON_BODY, 503],
        ),
        detail: {
          summary: "Clerk's user events (Standard Webhooks signature)",
          description:
            "user.created / user.updated upsert the user (and the Stream user), user.deleted " +
            "removes them; other events are acknowledged and ignored. 400 for a bad signature, " +
            "tampered body or stale timestamp. Absent (404) without CLERK_WEBHOOK_SIGNING_SECRET.",
        },
      },
    );
}
