import { CloneType, Kind, type TSchema, Type } from "@sinclair/typebox";
import { type Static, t } from "elysia";

/** A MongoDB ObjectId as the API spells it: 24 hex characters. Malformed ids fail validation (400). */
export const ObjectIdString = t.String({
  pattern: "^[0-9a-fA-F]{24}$",
  description: "An ObjectId: 24 hexadecimal characters",
});

/** `:chatId` in a path: chats and messages both address a chat this way. */
export const ChatIdParams = t.Object({ chatId: ObjectIdString });

/**
 * The one error body (the contract's "Conventions"): `{ message, code }`, plus `errors` for
 * VALIDATION and `retryAfter` for RATE_LIMITED and UNAVAILABLE. Some codes carry more fields
 * (e.g. the stored `version` on a code-update CONFLICT), so further properties are allowed.
 */
export const ErrorBody = t.Object(
  {
    message: t.String({ description: "A sentence for a person" }),
    code: t.String({ description: "A machine code: VALIDATION, UNAUTHORIZED, NOT_FOUND, …" }),
    errors: t.Optional(
      t.Array(t.Object({ path: t.String(), message: t.String() }), {
        description: "VALIDATION only: each field that failed, e.g. `body.email`",
      }),
    ),
    // TypeBox's own Integer: Elysia's `t.Integer` also takes numeric strings (for queries).
    retryAfter: t.Optional(
      Type.Integer({ description: "Seconds to wait before trying again (also `Retry-After`)" }),
    ),
  },
  { title: "Error", additionalProperties: true },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** What each error status means on any route; the route's own description names finer codes. */
const ERROR_STATUSES = {
  400: "VALIDATION (with `errors`): the body, query or path fails its schema, the JSON is malformed, or an id is; or a finer code for a request that cannot be done",
  401: "UNAUTHORIZED: the token is missing, expired or forged",
  403: "FORBIDDEN: the caller's role does not allow it, or a change authenticated by the cookie alone came from an origin that is not allowed",
  404: "NOT_FOUND: there is no such resource, or the caller may not see it",
  408: "REQUEST_TIMEOUT: the body did not arrive in time",
  409: "CONFLICT, or a finer code: the request clashes with the current state",
  413: "PAYLOAD_TOO_LARGE: the body is over 1 MiB",
  415: "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`",
  429: "RATE_LIMITED (with `retryAfter` and `Retry-After`)",
  502: "UPSTREAM: Stream or Clerk did not answer as expected",
  503: "UNAVAILABLE (with `retryAfter` and `Retry-After`) while the database or Redis cannot be reached; STREAM_DISABLED where Stream is needed and not configured",
} as const;
export type ErrorStatus = keyof typeof ERROR_STATUSES;

/** The one error body, described for each status (OpenAPI wants a description per response). */
const errorResponses = Object.fromEntries(
  Object.entries(ERROR_STATUSES).map(([status, description]) => [
    status,
    CloneType(ErrorBody, { description }),
  ]),
) as Record<ErrorStatus, typeof ErrorBody>;

/** A route behind `auth: true`: the token can be refused (401), and its user is read from the database (503). */
export const AUTHENTICATED = [401, 503] as const;
/**
 * An authenticated change (any method but GET): as AUTHENTICATED, and 403 when the cookie alone
 * authenticates it from an origin that is not allowed (cross-site request forgery).
 */
export const AUTHENTICATED_CHANGE = [401, 403, 503] as const;
/** A route that reads a JSON body: it can be invalid (400), late (408), too large (413) or not JSON (415). */
export const JSON_BODY = [400, 408, 413, 415] as const;

type SuccessMap<Success> = Success extends TSchema ? { 200: Success } : Success;
type ResponseMap<Success, Status extends ErrorStatus> = {
  [K in keyof SuccessMap<Success> | Status]: K extends keyof SuccessMap<Success>
    ? SuccessMap<Success>[K]
    : typeof ErrorBody;
};

/**
 * A route's `response`: its success schema (a bare schema means 200) and every error status it can
 * really answer, each with the one error body. So the OpenAPI document and the Eden client know
 * the real statuses: `if (error?.status === 404) error.value.code` type-checks.
 */
export function withErrors<
  const Success extends TSchema | Record<number, TSchema>,
  const Status extends ErrorStatus,
>(success: Success, statuses: readonly Status[]): ResponseMap<Success, Status> {
  const map: Record<number, TSchema> =
    Kind in success ? { 200: success as TSchema } : { ...success };
  for (const status of statuses) map[status] = errorResponses[status];
  return map as ResponseMap<Success, Status>;
}
