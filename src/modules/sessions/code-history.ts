import { Types } from "mongoose";
import type { Models } from "../../db/models/index.ts";
import type { CodeChange, SessionCode } from "../../db/models/session.ts";
import type { Logger } from "../../plugins/logger.ts";
import { diff, patch } from "./code-diff.ts";
import { type CodeVersionJson, DEFAULT_LANGUAGE } from "./model.ts";

/**
 * A snapshot is taken at the latest after this many versions, so rebuilding one version never
 * reads more than this many changes.
 */
const MAX_VERSIONS_BETWEEN_SNAPSHOTS = 1000;

/** What the conditional update that accepts a version sets besides the text. */
export interface PlannedChange {
  change: CodeChange;
  snapshotVersion: number;
  diffSinceSnapshot: number;
}

/**
 * What to keep of an accepted update: a diff against the stored version, or the whole text when
 * the diffs since the last snapshot add up to more than the text (so a replay never patches
 * through more than about a text's worth of diffs, and snapshots at most double what is stored),
 * after MAX_VERSIONS_BETWEEN_SNAPSHOTS versions, and for code edited before history was kept.
 */
export function planChange(
  stored: SessionCode,
  next: { language: string; text: string; version: number },
  userId: string,
  at: Date,
): PlannedChange {
  const base = { version: next.version, user: new Types.ObjectId(userId), at };
  const delta = diff(stored.text, next.text);
  const since = (stored.diffSinceSnapshot ?? 0) + delta.length;
  const snapshot =
    stored.snapshotVersion === undefined ||
    since > next.text.length ||
    next.version - stored.snapshotVersion > MAX_VERSIONS_BETWEEN_SNAPSHOTS;
  if (snapshot) {
    return {
      change: { ...base, language: next.language, text: next.text },
      snapshotVersion: next.version,
      diffSinceSnapshot: 0,
    };
  }
  const language = next.language !== stored.language ? { language: next.language } : {};
  return {
    change: { ...base, ...language, diff: delta },
    snapshotVersion: stored.snapshotVersion!,
    diffSinceSnapshot: since,
  };
}

/**
 * The shared editor's history: every accepted `code-update` of a session as a compact change
 * (planChange), and the replay that rebuilds each version's text from them.
 */
export class CodeHistory {
  constructor(
    private readonly models: Models,
    private readonly log: Logger,
  ) {}

  /**
   * Writes changes to the history; writing one that is there already changes nothing. Never
   * throws: a change that could not be written stays on the session (`code.change`) until the next
   * accepted update writes it, and replay reads it from there meanwhile.
   */
  async record(sessionId: string, changes: (CodeChange | undefined)[]): Promise<void> {
    const session = new Types.ObjectId(sessionId);
    const writes = changes
      .filter((change): change is CodeChange => change !== undefined)
      .map((change) => ({
        updateOne: {
          filter: { session, version: change.version },
          update: { $setOnInsert: { session, ...change } },
          upsert: true,
        },
      }));
    if (writes.length === 0) return;
    try {
      await this.models.CodeVersion.bulkWrite(writes, { ordered: false });
    } catch (error) {
      // Two writers of one change at once: the unique index keeps one, which is all we want.
      if (onlyDuplicates(error)) return;
      this.log.warn({ err: error, sessionId }, "code history: a change was not written yet");
    }
  }

  /**
   * Versions `after + 1` … `after + limit` of a session whose code is now `code`, each with its
   * whole text, rebuilt from the last snapshot at or before the first of them. A version that
   * cannot be rebuilt (lost in a crash between its acceptance and both chances to write it) is
   * left out, up to the next snapshot.
   */
  async replay(
    sessionId: string,
    code: SessionCode,
    after: number,
    limit: number,
  ): Promise<{ versions: CodeVersionJson[]; hasMore: boolean }> {
    const upto = Math.min(after + limit, code.version);
    if (upto <= after) return { versions: [], hasMore: false };
    const session = new Types.ObjectId(sessionId);
    const snapshot = await this.models.CodeVersion.findOne(
      { session, version: { $lte: after + 1 }, text: { $exists: true } },
      { version: 1 },
    )
      .sort({ version: -1 })
      .lean();
    const from = snapshot?.version ?? 1;
    const changes: CodeChange[] = await this.models.CodeVersion.find({
      session,
      version: { $gte: from, $lte: upto },
    })
      .sort({ version: 1 })
      .lean();
    // The latest change, if writing it to the history has not happened (yet).
    const pending = code.change;
    if (
      pending &&
      pending.version >= from &&
      pending.version <= upto &&
      changes.at(-1)?.version !== pending.version
    ) {
      changes.push(pending);
    }

    const versions: CodeVersionJson[] = [];
    // Version 0 is the empty editor, the base of a history that has every version from 1.
    let text: string | undefined = from === 1 ? "" : undefined;
    let language = DEFAULT_LANGUAGE;
    let last = from - 1;
    for (const change of changes) {
      if (change.version !== last + 1) text = undefined;
      last = change.version;
      if (change.text !== undefined) {
        text = change.text;
      } else if (text !== undefined) {
        text = applied(text, change.diff ?? "");
      }
      if (change.language !== undefined) language = change.language;
      if (change.version <= after || text === undefined) continue;
      versions.push({
        version: change.version,
        language,
        text,
        userId: String(change.user),
        at: change.at.toISOString(),
      });
    }
    return { versions, hasMore: upto < code.version };
  }
}

function applied(text: string, delta: string): string | undefined {
  try {
    return patch(text, delta);
  } catch {
    return undefined;
  }
}

function onlyDuplicates(error: unknown): boolean {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  if (list.length === 0) return (error as { code?: unknown }).code === 11000;
  return list.every((e) => (e as { code?: unknown }).code === 11000);
}
