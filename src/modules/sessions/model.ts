import { type Static, t } from "elysia";
import { signalFields, toggleMediaFields } from "../calls/model.ts";
import { ObjectIdString } from "../common/model.ts";
import { PublicUser } from "../users/model.ts";

export const PROBLEM_MAX = 200;
/** The editor's language at version 0. */
export const DEFAULT_LANGUAGE = "javascript";
export const DESCRIPTION_MAX = 2000;
export const DURATION_MIN = 5;
export const DURATION_MAX = 480;
export const DEFAULT_DURATION_MINUTES = 60;
export const NOTES_MAX = 20_000;
export const CODE_HISTORY_DEFAULT_LIMIT = 50;
export const CODE_HISTORY_MAX_LIMIT = 100;
/** The shared editor's text; a `code-update` frame must also fit the 64 KiB frame limit. */
export const CODE_TEXT_MAX = 50_000;

export const SESSIONS_DEFAULT_LIMIT = 20;
export const SESSIONS_MAX_LIMIT = 100;
/** `/active` and `/my-recent` answer this many, latest first. */
export const SESSIONS_SHORT_LIST = 20;

export const Difficulty = t.Union([t.Literal("easy"), t.Literal("medium"), t.Literal("hard")], {
  error: 'must be "easy", "medium" or "hard"',
});
export const SessionStatus = t.Union(
  [t.Literal("scheduled"), t.Literal("active"), t.Literal("completed"), t.Literal("cancelled")],
  { error: 'must be "scheduled", "active", "completed" or "cancelled"' },
);

const Problem = t.String({
  minLength: 1,
  maxLength: PROBLEM_MAX,
  description: `Trimmed; 1–${PROBLEM_MAX} characters`,
  error: `must be 1 to ${PROBLEM_MAX} characters once trimmed`,
});

const Description = t.String({
  maxLength: DESCRIPTION_MAX,
  description: `Trimmed; at most ${DESCRIPTION_MAX} characters`,
});

const ScheduledFor = t.String({
  format: "date-time",
  description:
    "When it is to start (ISO-8601, in the future): the session is `scheduled` until then",
  error: "must be an ISO-8601 date-time",
});

const DurationMinutes = t.Integer({
  minimum: DURATION_MIN,
  maximum: DURATION_MAX,
  description: `${DURATION_MIN}–${DURATION_MAX}; ${DEFAULT_DURATION_MINUTES} by default`,
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
    description: t.String(),
    host: PublicUser,
    participant: t.Union([PublicUser, t.Null()]),
    invitee: t.Union([PublicUser, t.Null()], {
      description: "When set, the only user who may take the seat",
    }),
    status: SessionStatus,
    callId: t.String({
      description: "The Stream video call default:<callId> and chat channel messaging:<callId>",
    }),
    chatId: t.Union([t.String(), t.Null()], {
      description:
        "The session's own chat (join-chat, history, read marks). Null only for a session " +
        "stored before session chats existed, until its chat is first used",
    }),
    code: SessionCode,
    scheduledFor: t.Union([t.String({ format: "date-time" }), t.Null()]),
    durationMinutes: t.Integer(),
    startedAt: t.Union([t.String({ format: "date-time" }), t.Null()], {
      description: "When it became active; null while scheduled",
    }),
    endedAt: t.Optional(
      t.String({ format: "date-time", description: "When it was completed or cancelled" }),
    ),
    createdAt: t.String({ format: "date-time" }),
    updatedAt: t.String({ format: "date-time" }),
  },
  { title: "Session" },
);
export type SessionJson = Static<typeof Session>;

export const SessionIdParams = t.Object({ id: ObjectIdString });
export const SessionUserParams = t.Object({ userId: ObjectIdString });

export const CreateSessionBody = t.Object({
  problem: Problem,
  difficulty: Difficulty,
  description: t.Optional(Description),
  scheduledFor: t.Optional(ScheduledFor),
  durationMinutes: t.Optional(DurationMinutes),
  inviteeId: t.Optional(
    t.String({
      pattern: "^[0-9a-fA-F]{24}$",
      description: "Reserves the seat for this user (an ObjectId)",
    }),
  ),
});
export type CreateSessionBody = Static<typeof CreateSessionBody>;

export const UpdateSessionBody = t.Object(
  {
    problem: t.Optional(Problem),
    difficulty: t.Optional(Difficulty),
    description: t.Optional(Description),
    scheduledFor: t.Optional(ScheduledFor),
    durationMinutes: t.Optional(DurationMinutes),
  },
  {
    minProperties: 1,
    error: "give at least one of problem, difficulty, description, scheduledFor, durationMinutes",
  },
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

/** Trims the problem and description before the schema sees them: "   " is no problem. */
export function normalizeSessionBody(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if (typeof fields.problem === "string") fields.problem = fields.problem.trim();
  if (typeof fields.description === "string") fields.description = fields.description.trim();
}

// The editor's history.

export const CodeHistoryQuery = t.Object({
  after: t.Optional(
    t.Integer({ minimum: 0, default: 0, description: "The last version seen; 0 from the start" }),
  ),
  limit: t.Optional(
    t.Integer({
      minimum: 1,
      maximum: CODE_HISTORY_MAX_LIMIT,
      default: CODE_HISTORY_DEFAULT_LIMIT,
    }),
  ),
});
export type CodeHistoryQuery = Static<typeof CodeHistoryQuery>;

export const CodeVersion = t.Object(
  {
    version: t.Integer({ minimum: 1 }),
    language: t.String(),
    text: t.String({ description: "The whole text at this version" }),
    userId: t.String({ description: "Who sent this version" }),
    at: t.String({ format: "date-time", description: "When it was accepted" }),
  },
  { title: "CodeVersion" },
);
export type CodeVersionJson = Static<typeof CodeVersion>;

export const CodeHistoryEnvelope = t.Object({
  versions: t.Array(CodeVersion),
  hasMore: t.Boolean({ description: "Later versions exist: ask again with after=<last version>" }),
});

// The host's notes.

export const NotesBody = t.Object({
  text: t.String({ maxLength: NOTES_MAX, description: `At most ${NOTES_MAX} characters` }),
  rating: t.Optional(
    t.Union([t.Integer({ minimum: 1, maximum: 5 }), t.Null()], {
      description: "1–5; absent or null for none (PUT replaces both fields)",
      error: "must be an integer from 1 to 5, or null",
    }),
  ),
});
export type NotesBody = Static<typeof NotesBody>;

export const Notes = t.Object(
  {
    sessionId: t.String(),
    text: t.String(),
    rating: t.Union([t.Integer({ minimum: 1, maximum: 5 }), t.Null()]),
    updatedAt: t.Union([t.String({ format: "date-time" }), t.Null()], {
      description: "Null until the host first saves notes",
    }),
  },
  { title: "SessionNotes" },
);
export type NotesJson = Static<typeof Notes>;
export const NotesEnvelope = t.Object({ notes: Notes });

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
