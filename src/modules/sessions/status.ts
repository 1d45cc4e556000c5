import { OPEN_STATUSES, OVER_STATUSES, type SessionStatus } from "../../db/models/session.ts";
import { type AppError, BadRequestError, NotFoundError } from "../../errors.ts";

/** What anyone who may not see a session (or there is none) is told. */
export const sessionNotFound = () => new NotFoundError("Session not found");

/**
 * Why something that needs another status cannot happen in `status`: each action allows a set of
 * statuses, so the one the session is in says what is wrong. The same codes go to REST and `/ws`.
 */
export function wrongStatus(status: SessionStatus): AppError {
  switch (status) {
    case "scheduled":
      return new BadRequestError("This session has not started yet", "SESSION_NOT_STARTED");
    case "active":
      return new BadRequestError("This session has already started", "SESSION_ALREADY_STARTED");
    case "completed":
      return new BadRequestError("This session has already ended", "SESSION_COMPLETED");
    case "cancelled":
      return new BadRequestError("This session was cancelled", "SESSION_CANCELLED");
  }
}

/** Scheduled or active: the seat can change hands and the chat is open. */
export const isOpen = (status: SessionStatus) =>
  (OPEN_STATUSES as readonly string[]).includes(status);
/** Completed or cancelled, for good. */
export const isOver = (status: SessionStatus) =>
  (OVER_STATUSES as readonly string[]).includes(status);

/**
 * A filter for sessions `userId` holds a place in, as host or participant: who may act in one,
 * read its chat and its code history.
 */
export const seated = (userId: string) => ({ $or: [{ host: userId }, { participant: userId }] });
