import { Types } from "mongoose";
import type { Clock } from "../../clock.ts";
import type { Models } from "../../db/models/index.ts";
import type { SessionCode } from "../../db/models/session.ts";
import { ConflictError } from "../../errors.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Hub } from "../../realtime/hub.ts";
import { CodeHistory, planChange } from "./code-history.ts";
import {
  CODE_HISTORY_DEFAULT_LIMIT,
  type CodeHistoryQuery,
  type CodeUpdateData,
  type CodeVersionJson,
} from "./model.ts";
import { seated, sessionNotFound, wrongStatus } from "./status.ts";

/** The stored code as a client sees it (a CONFLICT carries it), without the history's fields. */
export const codeJson = (code: SessionCode) => ({
  language: code.language,
  text: code.text,
  version: code.version,
});

const codeConflict = (code: SessionCode) =>
  new ConflictError(
    `The code is at version ${code.version}; send version ${code.version + 1}`,
    "CONFLICT",
    codeJson(code),
  );

/**
 * The shared editor of a session: `code-update` with versions (last writer wins per version; a
 * stale one gets CONFLICT with what is stored, to rebase on), every accepted version kept in the
 * history, and the history's replay. Host and participant of an active session only.
 */
export class SessionEditor {
  private readonly history: CodeHistory;

  constructor(private readonly deps: { models: Models; hub: Hub; clock: Clock; log: Logger }) {
    this.history = new CodeHistory(deps.models, deps.log);
  }

  /**
   * Accepted only on top of the stored version, then kept in the history and sent to the other
   * side. The stored text is read first (the history keeps a diff against it); the conditional
   * update on `code.version` then decides, and keeps the change on the session too, so that it
   * survives if writing it to the history fails: the next update writes it again.
   */
  async updateCode(from: string, data: CodeUpdateData): Promise<void> {
    const { models, clock, hub } = this.deps;
    const { sessionId, language, text, version } = data;
    const stored = await this.stored(sessionId, from);
    if (stored.code.version !== version - 1) throw codeConflict(stored.code);
    const planned = planChange(stored.code, { language, text, version }, from, clock.now());
    const before = await models.Session.findOneAndUpdate(
      { _id: sessionId, status: "active", "code.version": version - 1, ...seated(from) },
      {
        $set: {
          "code.language": language,
          "code.text": text,
          "code.version": version,
          "code.change": planned.change,
          "code.snapshotVersion": planned.snapshotVersion,
          "code.diffSinceSnapshot": planned.diffSinceSnapshot,
        },
      },
      {
        returnDocument: "before",
        projection: { host: 1, participant: 1, "code.change": 1 },
      },
    ).lean();
    // Another update (or a change of seat or status) got there since the read.
    if (!before) throw codeConflict((await this.stored(sessionId, from)).code);
    // The previous version's change too, in case writing it failed back then.
    const previous = (before as { code?: Pick<SessionCode, "change"> }).code?.change;
    await this.history.record(sessionId, [previous, planned.change]);
    const others = [before.host, before.participant]
      .filter((id) => id !== null)
      .map(String)
      .filter((id) => id !== from);
    hub.toSession(sessionId, others, "code-update", {
      sessionId,
      userId: from,
      language,
      text,
      version,
    });
  }

  /** Versions after `after`, each with its whole text: host and participant only, in any status. */
  async versions(
    userId: string,
    sessionId: string,
    query: CodeHistoryQuery,
  ): Promise<{ versions: CodeVersionJson[]; hasMore: boolean }> {
    if (!Types.ObjectId.isValid(sessionId)) throw sessionNotFound();
    const session = await this.deps.models.Session.findOne(
      { _id: sessionId, ...seated(userId) },
      { code: 1 },
    ).lean();
    if (!session) throw sessionNotFound();
    return this.history.replay(
      sessionId,
      session.code,
      query.after ?? 0,
      query.limit ?? CODE_HISTORY_DEFAULT_LIMIT,
    );
  }

  /** The code of an active session `userId` holds a place in; else why not. */
  private async stored(sessionId: string, userId: string) {
    if (!Types.ObjectId.isValid(sessionId)) throw sessionNotFound();
    const session = await this.deps.models.Session.findOne(
      { _id: sessionId, ...seated(userId) },
      { status: 1, code: 1 },
    ).lean();
    if (!session) throw sessionNotFound();
    if (session.status !== "active") throw wrongStatus(session.status);
    return session;
  }
}
