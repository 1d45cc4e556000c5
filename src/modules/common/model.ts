import { t } from "elysia";

/** A MongoDB ObjectId as the API spells it: 24 hex characters. Malformed ids fail validation (400). */
export const ObjectIdString = t.String({
  pattern: "^[0-9a-fA-F]{24}$",
  error: "must be a 24-character hexadecimal id",
});

export const ErrorBody = t.Object({
  message: t.String(),
  code: t.String(),
});
