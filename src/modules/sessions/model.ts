import { type Static, t } from "elysia";
import { signalFields, toggleMediaFields } from "../calls/model.ts";
import { ObjectIdString } from "../common/model.ts";
import { PublicUser } from "../users/model.ts";

export const PROBLEM_MAX = 200;
/** The shared editor's text; a `code-update` frame must also fit the 64 KiB frame limit. */
export const CODE_TEXT_MAX = 50_000;

export const SESSIONS_DEFAULT_LIMIT = 20;
export const SESSIONS_MAX_LIMIT = 100;
/** `/active` and `/my-recent` answer this many, latest first. */
export const SESSIONS_SHORT_LIST = 20;

export const Difficulty = t.Union([t.Literal("easy"), t.Literal("medium"), t.Literal("hard")], {
  error: 'must be "easy", "medium" or "hard"',
});
export const SessionStatus = t.Union([t.Literal("active"), t.Literal("completed")], {
  error: 'must be "active" or "completed"',
});

const Problem = t.String({
  minLength: 1,
  maxLength: PROBLEM_MAX,
  description: `Trimmed; 1–${PROBLEM_MAX} characters`,
  error: `must be 1 to ${PROBLEM_MAX} characters once trimmed`,
});

const Language = t.String({ minLength: 1, maxLength: 40, description: 'e.g. "javascript"' });

export const SessionCode = t.Object({
  language: Language,
  text: t.String(),
  version: t.Integer({ minimum: 0, description: "Counts accepted code-updates, from 0" }),
});

export const Session = t.Object(
  {
    _id: t.String(),
    problem: t.String(),
    difficulty: Difficulty,
    host: PublicUser,
    participant: t.Union([PublicUser, t.Null()]),
    status: SessionStatus,
    callId: t.String({
      description: "The Stream video call default:<callId> and chat channel messaging:<callId>",
    }),
    code: SessionCode,
    startedAt: t.String({ format: "date-time" }),
    endedAt: t.Optional(t.String({ format: "date-time" })),
    createdAt: t.String({ format: "date-time" }),
    updatedAt: t.String({ format: "date-time" }),
  },
  { title: "Session" },
);
export type SessionJson = Static<typeof Session>;

export const SessionIdParams = t.Object({ id: ObjectIdString });

export const CreateSessionBody = t.Object({ problem: Problem, difficulty: Difficulty });
export type CreateSessionBody = Static<typeof CreateSessionBody>;

export const UpdateSessionBody = t.Object(
  { problem: t.Optional(Problem), difficulty: t.Optional(Difficulty) },
  { minProperties: 1, error: "give problem, difficulty or both" },
);
export type UpdateSessionBody = Static<typeof UpdateSessionBody>;

export const SessionListQuery = t.Object({
  status: t.Optional(SessionStatus),
  difficulty: t.Optional(Difficulty),
  limit: t.Optional(
    t.Integer({ minimum: 1, maximum: SESSIONS_MAX_LIMIT, default: SESSIONS_DEFAULT_LIMIT }),
  ),
  before: t.Optional(
    t.String({
      pattern: "^[0-9a-fA-F]{24}$",
      description: "The _id of the last session seen: the page continues with older ones",
    }),
  ),
});
export type SessionListQuery = Static<typeof SessionListQuery>;

export const SessionEnvelope = t.Object({ session: Session });
export const SessionListEnvelope = t.Object({ sessions: t.Array(Session) });
export const SessionPageEnvelope = t.Object({ sessions: t.Array(Session), hasMore: t.Boolean() });
export const EndedSessionEnvelope = t.Object({ session: Session, message: t.String() });

/** Trims the problem before the schema sees it, so "  Two Sum " is valid and "   " is not. */
export function normalizeSessionBody(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if (typeof fields.problem === "string") fields.problem = fields.problem.trim();
}

// What a socket sends about a session (see socket.ts, and the call relay for the first two).

export const SignalData = t.Object({ sessionId: ObjectIdString, ...signalFields });
export type SignalData = Static<typeof SignalData>;

export const ToggleMediaData = t.Object({ sessionId: ObjectIdString, ...toggleMediaFields });
export type ToggleMediaData = Static<typeof ToggleMediaData>;

export const CodeUpdateData = t.Object({
  sessionId: ObjectIdString,
  language: Language,
  text: t.String({ maxLength: CODE_TEXT_MAX }),
  version: t.Integer({ minimum: 1, description: "The stored version + 1" }),
});
export type CodeUpdateData = Static<typeof CodeUpdateData>;
