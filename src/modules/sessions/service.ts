import { Types } from "mongoose";
import type { Clock } from "../../clock.ts";
import type { Models } from "../../db/models/index.ts";
import type { SessionDoc, SessionStatus } from "../../db/models/session.ts";
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from "../../errors.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Hub } from "../../realtime/hub.ts";
import { type StreamService, streamUserId } from "../stream/service.ts";
import type { PublicUser } from "../users/model.ts";
import { type StoredUser, toUserJson } from "../users/service.ts";
import {
  type CodeUpdateData,
  type CreateSessionBody,
  SESSIONS_DEFAULT_LIMIT,
  SESSIONS_SHORT_LIST,
  type SessionJson,
  type SessionListQuery,
  type UpdateSessionBody,
} from "./model.ts";
import type { StreamCleanup } from "./stream-cleanup.ts";

/** Who acts on a session: enough of the caller to name them to Stream. */
export interface SessionUser {
  id: string;
  name: string;
  avatar: string;
  clerkId?: string;
}

/** Who is in a session, as the realtime side needs it. */
export interface SessionMembership {
  sessionId: string;
  hostId: string;
  participantId: string | null;
  status: SessionStatus;
}

export interface SessionServiceDeps {
  models: Models;
  hub: Hub;
  /** Null when Stream is not configured: sessions work without it (peer-to-peer calls). */
  stream: StreamService | null;
  /** Null exactly when `stream` is. */
  cleanup: StreamCleanup | null;
  clock: Clock;
  log: Logger;
}

export const DEFAULT_LANGUAGE = "javascript";

const notFound = () => new NotFoundError("Session not found");
const completed = () => new BadRequestError("This session has already ended", "SESSION_COMPLETED");
const notHost = (action: string) => new ForbiddenError(`Only the host can ${action} this session`);

type PopulatedSession = Omit<SessionDoc, "host" | "participant"> & {
  host: StoredUser | null;
  participant: StoredUser | null;
};

/** A user removed since: the session stays readable. */
function goneUser(): PublicUser {
  const epoch = new Date(0).toISOString();
  return {
    _id: "",
    name: "Deleted user",
    email: "",
    avatar: "",
    createdAt: epoch,
    updatedAt: epoch,
  };
}

export function toSessionJson(session: PopulatedSession): SessionJson {
  const json: SessionJson = {
    _id: String(session._id),
    problem: session.problem,
    difficulty: session.difficulty,
    host: session.host ? toUserJson(session.host) : goneUser(),
    participant: session.participant ? toUserJson(session.participant) : null,
    status: session.status,
    callId: session.callId,
    code: {
      language: session.code.language,
      text: session.code.text,
      version: session.code.version,
    },
    startedAt: session.startedAt.toISOString(),
    createdAt: session.createdAt.toISOString(),
    updatedAt: session.updatedAt.toISOString(),
  };
  if (session.endedAt) json.endedAt = session.endedAt.toISOString();
  return json;
}

function membershipOf(
  session: Pick<SessionDoc, "_id" | "host" | "participant" | "status">,
): SessionMembership {
  return {
    sessionId: String(session._id),
    hostId: String(session.host),
    participantId: session.participant ? String(session.participant) : null,
    status: session.status,
  };
}

/** Everyone in the session but `userId`. */
export function othersIn(membership: SessionMembership, userId: string): string[] {
  return [membership.hostId, membership.participantId].filter(
    (id): id is string => id !== null && id !== userId,
  );
}

/**
 * Interview sessions: one host, at most one participant, a Stream call and chat channel when
 * Stream is configured, and the realtime side's membership checks and the shared editor (signals
 * and media toggles go through the call relay, modules/calls/relay.ts). Every state change is one conditional update, so concurrent callers cannot both win.
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  /**
   * Creates the session, with its Stream call and channel first when Stream is on. If any step
   * fails, what was made is deleted again (or left to the retrier) and no session is stored.
   */
  async create(host: SessionUser, input: CreateSessionBody): Promise<SessionJson> {
    const { models, stream, cleanup, clock } = this.deps;
    const _id = new Types.ObjectId();
    const callId = crypto.randomUUID();
    const problem = input.problem.trim();
    if (stream && cleanup) {
      const hostStreamId = streamUserId(host);
      // Stream refuses unknown users as creators and members.
      await stream.upsertUsers([
        { id: hostStreamId, name: host.name, image: host.avatar || undefined },
      ]);
      try {
        await stream.createCall(callId, hostStreamId, {
          sessionId: String(_id),
          problem,
          difficulty: input.difficulty,
        });
        await stream.createChannel(callId, hostStreamId, {
          name: problem,
          members: [hostStreamId],
        });
      } catch (error) {
        // A timed-out create may have happened anyway: delete both; a 404 counts as done.
        await this.cleanUp(callId);
        throw error;
      }
    }
    try {
      await models.Session.create({
        _id,
        problem,
        difficulty: input.difficulty,
        host: host.id,
        participant: null,
        status: "active",
        callId,
        code: { language: DEFAULT_LANGUAGE, text: "", version: 0 },
        startedAt: clock.now(),
      });
    } catch (error) {
      if (cleanup) await this.cleanUp(callId);
      throw error;
    }
    return this.read(String(_id));
  }

  async get(id: string): Promise<SessionJson> {
    return this.read(id);
  }

  /** Newest first, filtered, paged by `before` (the last `_id` seen). */
  async list(query: SessionListQuery): Promise<{ sessions: SessionJson[]; hasMore: boolean }> {
    const limit = query.limit ?? SESSIONS_DEFAULT_LIMIT;
    const filter: Record<string, unknown> = {};
    if (query.status) filter.status = query.status;
    if (query.difficulty) filter.difficulty = query.difficulty;
    if (query.before) filter._id = { $lt: new Types.ObjectId(query.before) };
    const found = await this.find(filter, { _id: -1 }, limit + 1);
    return { sessions: found.slice(0, limit), hasMore: found.length > limit };
  }

  /** The latest active sessions, for a lobby. */
  async active(): Promise<SessionJson[]> {
    return this.find({ status: "active" }, { _id: -1 }, SESSIONS_SHORT_LIST);
  }

  /** The latest completed sessions where `userId` was host or participant, last ended first. */
  async recentFor(userId: string): Promise<SessionJson[]> {
    return this.find(
      { status: "completed", $or: [{ host: userId }, { participant: userId }] },
      { endedAt: -1, _id: -1 },
      SESSIONS_SHORT_LIST,
    );
  }

  /** Host only, while active. */
  async update(userId: string, id: string, changes: UpdateSessionBody): Promise<SessionJson> {
    const set: Record<string, unknown> = {};
    if (changes.problem !== undefined) set.problem = changes.problem.trim();
    if (changes.difficulty !== undefined) set.difficulty = changes.difficulty;
    const updated = await this.deps.models.Session.findOneAndUpdate(
      { _id: id, host: userId, status: "active" },
      { $set: set },
      { returnDocument: "after" },
    ).lean();
    if (!updated) await this.explainHostMiss(id, userId, "change");
    const session = await this.read(id);
    await this.describeCall(session);
    this.announce(session);
    return session;
  }

  /**
   * Host only, while nobody holds the seat or once completed; with someone in an active session
   * the host has to end it first (409 SESSION_IN_PROGRESS). Stream resources still there go too.
   */
  async remove(userId: string, id: string): Promise<void> {
    const { models, cleanup } = this.deps;
    const removed = await models.Session.findOneAndDelete({
      _id: id,
      host: userId,
      $or: [{ status: "completed" }, { participant: null }],
    }).lean();
    if (!removed) {
      const current = await this.raw(id);
      if (!current) throw notFound();
      if (String(current.host) !== userId) throw notHost("delete");
      throw new ConflictError(
        "Someone is in this session; end it before deleting it",
        "SESSION_IN_PROGRESS",
      );
    }
    if (!cleanup) return;
    if (removed.status === "active") await this.cleanUp(removed.callId);
    else await cleanup.retry(removed.callId);
  }

  /**
   * The caller takes the free seat. One conditional update decides: of two joins at the same
   * moment exactly one matches. Joining again as the participant is a harmless repeat.
   */
  async join(user: SessionUser, id: string): Promise<SessionJson> {
    const { models, stream } = this.deps;
    const joined = await models.Session.findOneAndUpdate(
      { _id: id, status: "active", participant: null, host: { $ne: user.id } },
      { $set: { participant: user.id } },
      { returnDocument: "after" },
    ).lean();
    if (!joined) {
      const current = await this.raw(id);
      if (!current) throw notFound();
      if (current.status === "completed") throw completed();
      if (String(current.host) === user.id) {
        throw new BadRequestError("The host cannot join their own session", "HOST_CANNOT_JOIN");
      }
      if (String(current.participant) !== user.id) {
        throw new ConflictError("Someone has already joined this session", "SESSION_FULL");
      }
      // A repeat: make sure the channel has them (the first join may have been cut short).
      if (stream) await this.addToChannel(stream, current.callId, user);
      return this.read(id);
    }
    if (stream) {
      try {
        await this.addToChannel(stream, joined.callId, user);
      } catch (error) {
        // The seat is only theirs once the channel has them; give it back.
        await models.Session.updateOne(
          { _id: id, participant: user.id, status: "active" },
          { $set: { participant: null } },
        );
        throw error;
      }
    }
    const session = await this.read(id);
    this.announce(session);
    return session;
  }

  /** The participant leaves; the seat is free again. */
  async leave(user: SessionUser, id: string): Promise<SessionJson> {
    const { models, stream, log } = this.deps;
    const left = await models.Session.findOneAndUpdate(
      { _id: id, status: "active", participant: user.id },
      { $set: { participant: null } },
      { returnDocument: "after" },
    ).lean();
    if (!left) {
      const current = await this.raw(id);
      if (!current) throw notFound();
      if (current.status === "completed") throw completed();
      if (String(current.host) === user.id) {
        throw new BadRequestError(
          "The host cannot leave their own session; end it instead",
          "HOST_CANNOT_LEAVE",
        );
      }
      throw new ForbiddenError("You are not the participant of this session");
    }
    if (stream) {
      // Best effort: a stale channel member has no seat and sees no new session.
      await stream
        .removeChannelMembers(left.callId, [streamUserId(user)])
        .catch(() => log.warn({ callId: left.callId }, "Stream: channel member not removed"));
    }
    const session = await this.read(id);
    this.announce(session, [user.id]);
    return session;
  }

  /**
   * Host only. The session is completed here whatever Stream says; its call and channel are
   * deleted now, or by the retrier once Stream answers again.
   */
  async end(userId: string, id: string): Promise<SessionJson> {
    const ended = await this.deps.models.Session.findOneAndUpdate(
      { _id: id, host: userId, status: "active" },
      { $set: { status: "completed", endedAt: this.deps.clock.now() } },
      { returnDocument: "after" },
    ).lean();
    if (!ended) await this.explainHostMiss(id, userId, "end");
    else if (this.deps.cleanup) await this.cleanUp(ended.callId);
    const session = await this.read(id);
    this.announce(session);
    return session;
  }

  // The realtime side.

  /** Host and participant only; anyone else gets NOT_FOUND (existence is not leaked). */
  async membership(sessionId: string, userId: string): Promise<SessionMembership> {
    if (!Types.ObjectId.isValid(sessionId)) throw notFound();
    const session = await this.deps.models.Session.findOne(
      { _id: sessionId, $or: [{ host: userId }, { participant: userId }] },
      { host: 1, participant: 1, status: 1 },
    ).lean();
    if (!session) throw notFound();
    return membershipOf(session);
  }

  /** Membership of an active session. */
  async activeMembership(sessionId: string, userId: string): Promise<SessionMembership> {
    const membership = await this.membership(sessionId, userId);
    if (membership.status !== "active") throw completed();
    return membership;
  }

  /** `peer-joined` / `peer-left` to the sockets of the others that joined the session. */
  announcePeer(
    membership: SessionMembership,
    userId: string,
    event: "peer-joined" | "peer-left",
  ): void {
    const { sessionId } = membership;
    this.deps.hub.toSession(sessionId, othersIn(membership, userId), event, { sessionId, userId });
  }

  /**
   * The shared editor: accepted only on top of the stored version (one conditional update), then
   * sent to the other side. Otherwise CONFLICT carrying what is stored, for the client to rebase.
   */
  async updateCode(from: string, data: CodeUpdateData): Promise<void> {
    const { sessionId, language, text, version } = data;
    const updated = await this.deps.models.Session.findOneAndUpdate(
      {
        _id: sessionId,
        status: "active",
        "code.version": version - 1,
        $or: [{ host: from }, { participant: from }],
      },
      { $set: { "code.language": language, "code.text": text, "code.version": version } },
      { returnDocument: "after" },
    ).lean();
    if (!updated) {
      await this.activeMembership(sessionId, from);
      const stored = await this.deps.models.Session.findById(sessionId, { code: 1 }).lean();
      if (!stored) throw notFound();
      throw new ConflictError(
        `The code is at version ${stored.code.version}; send version ${stored.code.version + 1}`,
        "CONFLICT",
        { ...stored.code },
      );
    }
    this.deps.hub.toSession(sessionId, othersIn(membershipOf(updated), from), "code-update", {
      sessionId,
      userId: from,
      language,
      text,
      version,
    });
  }

  // Helpers.

  /**
   * Keeps the Stream call's custom data in step with the session. The session is the truth: if
   * Stream fails, the change stands and the call keeps its old description.
   */
  private async describeCall(session: SessionJson): Promise<void> {
    const { stream, log } = this.deps;
    if (!stream) return;
    const { _id: sessionId, problem, difficulty, callId } = session;
    try {
      await stream.updateCall(callId, { sessionId, problem, difficulty });
    } catch {
      log.warn({ sessionId }, "Stream call description not updated");
    }
  }

  /** `session-updated` to the host and the participant, plus anyone in `also`. */
  private announce(session: SessionJson, also: string[] = []): void {
    const ids = [session.host._id, session.participant?._id ?? "", ...also].filter(Boolean);
    this.deps.hub.toUsers(ids, "session-updated", { session });
  }

  private async addToChannel(stream: StreamService, callId: string, user: SessionUser) {
    const id = streamUserId(user);
    await stream.upsertUsers([{ id, name: user.name, image: user.avatar || undefined }]);
    await stream.addChannelMembers(callId, [id]);
  }

  /** Deletes a session's Stream call and channel now or later; never fails the caller. */
  private async cleanUp(callId: string): Promise<void> {
    try {
      await this.deps.cleanup?.remove(callId);
    } catch (error) {
      this.deps.log.error({ callId, err: error }, "Stream cleanup could not be recorded");
    }
  }

  /** Why a host-only update matched nothing: unknown, not the host, or over. */
  private async explainHostMiss(id: string, userId: string, action: string): Promise<never> {
    const current = await this.raw(id);
    if (!current) throw notFound();
    if (String(current.host) !== userId) throw notHost(action);
    throw completed();
  }

  private async raw(id: string) {
    if (!Types.ObjectId.isValid(id)) return null;
    return this.deps.models.Session.findById(id).lean();
  }

  private async read(id: string): Promise<SessionJson> {
    if (!Types.ObjectId.isValid(id)) throw notFound();
    const [session] = await this.find({ _id: new Types.ObjectId(id) }, { _id: -1 }, 1);
    if (!session) throw notFound();
    return session;
  }

  private async find(
    filter: Record<string, unknown>,
    sort: Record<string, 1 | -1>,
    limit: number,
  ): Promise<SessionJson[]> {
    const sessions = await this.deps.models.Session.find(filter)
      .sort(sort)
      .limit(limit)
      .populate("host")
      .populate("participant")
      .lean();
    return sessions.map((s) => toSessionJson(s as unknown as PopulatedSession));
  }
}
