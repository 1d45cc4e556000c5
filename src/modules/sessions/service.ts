import { Types } from "mongoose";
import type { Clock } from "../../clock.ts";
import type { Models } from "../../db/models/index.ts";
import {
  OPEN_STATUSES,
  OVER_STATUSES,
  type SessionDoc,
  type SessionStatus,
} from "../../db/models/session.ts";
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from "../../errors.ts";
import type { Logger } from "../../plugins/logger.ts";
import type { Hub } from "../../realtime/hub.ts";
import type { SessionChatMembers } from "../session-chat/members.ts";
import { type StreamService, streamUserId } from "../stream/service.ts";
import { goneUser, type StoredUser, toUserJson } from "../users/service.ts";
import { codeJson } from "./editor.ts";
import {
  type CreateSessionBody,
  DEFAULT_DURATION_MINUTES,
  DEFAULT_LANGUAGE,
  SESSIONS_DEFAULT_LIMIT,
  SESSIONS_SHORT_LIST,
  type SessionJson,
  type SessionListQuery,
  type UpdateSessionBody,
} from "./model.ts";
import { isOpen, isOver, sessionNotFound as notFound, seated, wrongStatus } from "./status.ts";
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
  /** The session's own chat, whose members follow the seat. */
  chat: SessionChatMembers;
  /** Null when Stream is not configured: sessions work without it (peer-to-peer calls). */
  stream: StreamService | null;
  /** Null exactly when `stream` is. */
  cleanup: StreamCleanup | null;
  clock: Clock;
  log: Logger;
}

const notHost = (action: string) => new ForbiddenError(`Only the host can ${action} this session`);

type PopulatedSession = Omit<SessionDoc, "host" | "participant" | "invitee"> & {
  host: StoredUser | null;
  participant: StoredUser | null;
  invitee: StoredUser | null;
};

const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);

export function toSessionJson(session: PopulatedSession): SessionJson {
  const json: SessionJson = {
    _id: String(session._id),
    problem: session.problem,
    difficulty: session.difficulty,
    description: session.description ?? "",
    host: session.host ? toUserJson(session.host) : goneUser(),
    participant: session.participant ? toUserJson(session.participant) : null,
    invitee: session.invitee ? toUserJson(session.invitee) : null,
    status: session.status,
    callId: session.callId,
    chatId: session.chatId ? String(session.chatId) : null,
    code: codeJson(session.code),
    scheduledFor: iso(session.scheduledFor),
    durationMinutes: session.durationMinutes ?? DEFAULT_DURATION_MINUTES,
    startedAt: iso(session.startedAt),
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
 * Interview sessions: scheduling, one host, at most one participant (a seat an invitee may have
 * reserved), a chat of their own whose members follow the seat (session-chat/members.ts), a
 * Stream call and channel when Stream is configured, and the realtime side's membership checks
 * (signals and media toggles go through the call relay, modules/calls/relay.ts; the shared
 * editor is editor.ts). Every state change is one conditional update, so concurrent callers
 * cannot both win.
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  /**
   * Creates the session: its Stream call and channel first when Stream is on, then its chat, then
   * the session itself (`scheduled` when `scheduledFor` is given, else `active`). If any step
   * fails, what was made is deleted again (or left to the retrier) and no session is stored.
   */
  async create(host: SessionUser, input: CreateSessionBody): Promise<SessionJson> {
    const { models, stream, cleanup, clock, chat } = this.deps;
    const now = clock.now();
    const scheduledFor = input.scheduledFor ? new Date(input.scheduledFor) : null;
    if (scheduledFor && scheduledFor.getTime() <= now.getTime()) {
      throw new ValidationError("The session is invalid", [
        { path: "scheduledFor", message: "must be in the future" },
      ]);
    }
    const inviteeId = input.inviteeId ?? null;
    if (inviteeId === host.id) {
      throw new ValidationError("The session is invalid", [
        { path: "inviteeId", message: "must be someone other than the host" },
      ]);
    }
    if (inviteeId && !(await models.User.exists({ _id: inviteeId }))) {
      throw new NotFoundError("User not found");
    }
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
    let chatId: Types.ObjectId | undefined;
    try {
      chatId = await chat.open(String(_id), host.id);
      await models.Session.create({
        _id,
        problem,
        difficulty: input.difficulty,
        description: input.description?.trim() ?? "",
        host: host.id,
        participant: null,
        invitee: inviteeId,
        status: scheduledFor ? "scheduled" : "active",
        callId,
        chatId,
        chatVersion: 0,
        code: {
          language: DEFAULT_LANGUAGE,
          text: "",
          version: 0,
          snapshotVersion: 0,
          diffSinceSnapshot: 0,
        },
        scheduledFor,
        durationMinutes: input.durationMinutes ?? DEFAULT_DURATION_MINUTES,
        startedAt: scheduledFor ? null : now,
      });
    } catch (error) {
      if (chatId) await chat.remove(chatId).catch(() => undefined);
      if (cleanup) await this.cleanUp(callId);
      throw error;
    }
    const session = await this.read(String(_id));
    // The invitee's lobby learns of the invitation at once.
    if (inviteeId) this.announce(session);
    return session;
  }

  async get(id: string): Promise<SessionJson> {
    return this.read(id);
  }

  /** Newest first, filtered, paged by `before` (the last `_id` seen). */
  async list(query: SessionListQuery): Promise<{ sessions: SessionJson[]; hasMore: boolean }> {
    return this.page({}, query);
  }

  /**
   * `userId`'s sessions, newest first: those they host, hold the seat of, or are invited to (an
   * invitation is an interview on their calendar too). 404 for an unknown user.
   */
  async listFor(
    userId: string,
    query: SessionListQuery,
  ): Promise<{ sessions: SessionJson[]; hasMore: boolean }> {
    if (!(await this.deps.models.User.exists({ _id: userId }))) {
      throw new NotFoundError("User not found");
    }
    const places = [{ host: userId }, { participant: userId }, { invitee: userId }];
    return this.page({ $or: places }, query);
  }

  /** The latest active sessions, for a lobby. */
  async active(): Promise<SessionJson[]> {
    return this.find({ status: "active" }, { _id: -1 }, SESSIONS_SHORT_LIST);
  }

  /** The latest completed sessions where `userId` was host or participant, last ended first. */
  async recentFor(userId: string): Promise<SessionJson[]> {
    return this.find(
      { status: "completed", ...seated(userId) },
      { endedAt: -1, _id: -1 },
      SESSIONS_SHORT_LIST,
    );
  }

  /** Host only, while scheduled or active; `scheduledFor` only while scheduled, and ahead. */
  async update(userId: string, id: string, changes: UpdateSessionBody): Promise<SessionJson> {
    const set: Record<string, unknown> = {};
    if (changes.problem !== undefined) set.problem = changes.problem.trim();
    if (changes.difficulty !== undefined) set.difficulty = changes.difficulty;
    if (changes.description !== undefined) set.description = changes.description.trim();
    if (changes.durationMinutes !== undefined) set.durationMinutes = changes.durationMinutes;
    if (changes.scheduledFor !== undefined) {
      const scheduledFor = new Date(changes.scheduledFor);
      if (scheduledFor.getTime() <= this.deps.clock.now().getTime()) {
        throw new ValidationError("The session is invalid", [
          { path: "scheduledFor", message: "must be in the future" },
        ]);
      }
      set.scheduledFor = scheduledFor;
    }
    const status = changes.scheduledFor !== undefined ? "scheduled" : { $in: OPEN_STATUSES };
    const updated = await this.deps.models.Session.findOneAndUpdate(
      { _id: id, host: userId, status },
      { $set: set },
      { returnDocument: "after" },
    ).lean();
    if (!updated) await this.explainHostMiss(id, userId, "change");
    const session = await this.read(id);
    await this.describeCall(session);
    this.announce(session);
    return session;
  }

  /** The host starts a scheduled session: it is active from now. */
  async start(userId: string, id: string): Promise<SessionJson> {
    const started = await this.deps.models.Session.findOneAndUpdate(
      { _id: id, host: userId, status: "scheduled" },
      { $set: { status: "active", startedAt: this.deps.clock.now() } },
      { returnDocument: "after" },
    ).lean();
    if (!started) await this.explainHostMiss(id, userId, "start");
    const session = await this.read(id);
    this.announce(session);
    return session;
  }

  /**
   * The host calls a scheduled or active session off. Like an end: its chat freezes, and its
   * Stream call and channel are deleted now, or by the retrier once Stream answers again.
   */
  async cancel(userId: string, id: string): Promise<SessionJson> {
    return this.stop(userId, id, "cancel", OPEN_STATUSES, "cancelled");
  }

  /**
   * Host only. The session is completed here whatever Stream says; its call and channel are
   * deleted now, or by the retrier once Stream answers again. Its chat freezes.
   */
  async end(userId: string, id: string): Promise<SessionJson> {
    return this.stop(userId, id, "end", ["active"], "completed");
  }

  /**
   * Host only, while nobody holds the seat or once over; with someone in an open session the
   * host has to end or cancel it first (409 SESSION_IN_PROGRESS). Its chat, code history and
   * notes go with it, and the Stream resources still there.
   */
  async remove(userId: string, id: string): Promise<void> {
    const { models, cleanup, chat, log } = this.deps;
    const removed = await models.Session.findOneAndDelete({
      _id: id,
      host: userId,
      $or: [{ status: { $in: OVER_STATUSES } }, { participant: null }],
    }).lean();
    if (!removed) {
      const current = await this.raw(id);
      if (!current) throw notFound();
      if (String(current.host) !== userId) throw notHost("delete");
      throw new ConflictError(
        "Someone holds the seat of this session; end or cancel it before deleting it",
        "SESSION_IN_PROGRESS",
      );
    }
    await Promise.all([
      removed.chatId ? chat.remove(removed.chatId) : undefined,
      models.CodeVersion.deleteMany({ session: removed._id }),
      models.SessionNote.deleteOne({ session: removed._id }),
    ]).catch((error: unknown) =>
      log.error({ err: error, sessionId: id }, "a deleted session's data was not all removed"),
    );
    if (!cleanup) return;
    if (isOpen(removed.status)) await this.cleanUp(removed.callId);
    else await cleanup.retry(removed.callId);
  }

  /**
   * The caller takes the free seat, of a scheduled session (reserving it) or an active one; when
   * the session has an invitee, only they may. One conditional update decides: of two joins at
   * the same moment exactly one matches. Joining again as the participant is a harmless repeat.
   */
  async join(user: SessionUser, id: string): Promise<SessionJson> {
    const { models, stream } = this.deps;
    const joined = await models.Session.findOneAndUpdate(
      {
        _id: id,
        status: { $in: OPEN_STATUSES },
        participant: null,
        host: { $ne: user.id },
        invitee: { $in: [null, user.id] },
      },
      { $set: { participant: user.id }, $inc: { chatVersion: 1 } },
      { returnDocument: "after" },
    ).lean();
    if (!joined) {
      const current = await this.raw(id);
      if (!current) throw notFound();
      await this.deps.chat.repair(current);
      if (isOver(current.status)) throw wrongStatus(current.status);
      if (String(current.host) === user.id) {
        throw new BadRequestError("The host cannot join their own session", "HOST_CANNOT_JOIN");
      }
      if (current.invitee && String(current.invitee) !== user.id) {
        throw new ForbiddenError("This session's seat is reserved for someone else");
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
          { _id: id, participant: user.id, status: { $in: OPEN_STATUSES } },
          { $set: { participant: null }, $inc: { chatVersion: 1 } },
        );
        throw error;
      }
    }
    await this.deps.chat.follow(joined);
    const session = await this.read(id);
    this.announce(session);
    return session;
  }

  /** The participant leaves (or gives back a reservation); the seat is free again. */
  async leave(user: SessionUser, id: string): Promise<SessionJson> {
    const { models, stream, log } = this.deps;
    const left = await models.Session.findOneAndUpdate(
      { _id: id, status: { $in: OPEN_STATUSES }, participant: user.id },
      { $set: { participant: null }, $inc: { chatVersion: 1 } },
      { returnDocument: "after" },
    ).lean();
    if (!left) {
      const current = await this.raw(id);
      if (!current) throw notFound();
      await this.deps.chat.repair(current);
      if (isOver(current.status)) throw wrongStatus(current.status);
      if (String(current.host) === user.id) {
        throw new BadRequestError(
          "The host cannot leave their own session; end it instead",
          "HOST_CANNOT_LEAVE",
        );
      }
      throw new ForbiddenError("You are not the participant of this session");
    }
    // The chat first: from now on nothing said there reaches them.
    await this.deps.chat.follow(left);
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

  // The realtime side.

  /** Host and participant only; anyone else gets NOT_FOUND (existence is not leaked). */
  async membership(sessionId: string, userId: string): Promise<SessionMembership> {
    if (!Types.ObjectId.isValid(sessionId)) throw notFound();
    const session = await this.deps.models.Session.findOne(
      { _id: sessionId, ...seated(userId) },
      { host: 1, participant: 1, status: 1 },
    ).lean();
    if (!session) throw notFound();
    return membershipOf(session);
  }

  /** Membership of a scheduled or active session: its sockets may gather before it starts. */
  async openMembership(sessionId: string, userId: string): Promise<SessionMembership> {
    const membership = await this.membership(sessionId, userId);
    if (!isOpen(membership.status)) throw wrongStatus(membership.status);
    return membership;
  }

  /** Membership of an active session: calls and the editor need one. */
  async activeMembership(sessionId: string, userId: string): Promise<SessionMembership> {
    const membership = await this.membership(sessionId, userId);
    if (membership.status !== "active") throw wrongStatus(membership.status);
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

  // Helpers.

  /** End or cancel: one conditional update, then the chat freezes and Stream is cleaned up. */
  private async stop(
    userId: string,
    id: string,
    action: string,
    from: readonly SessionStatus[],
    to: SessionStatus,
  ): Promise<SessionJson> {
    const stopped = await this.deps.models.Session.findOneAndUpdate(
      { _id: id, host: userId, status: { $in: from } },
      { $set: { status: to, endedAt: this.deps.clock.now() }, $inc: { chatVersion: 1 } },
      { returnDocument: "after" },
    ).lean();
    if (!stopped) await this.explainHostMiss(id, userId, action);
    else {
      try {
        await this.deps.chat.follow(stopped);
      } finally {
        // Stream is cleaned up even if freezing the chat failed (a retry of this call freezes it).
        if (this.deps.cleanup) await this.cleanUp(stopped.callId);
      }
    }
    const session = await this.read(id);
    this.announce(session);
    return session;
  }

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

  /** `session-updated` to the host, the participant and the invitee, plus anyone in `also`. */
  private announce(session: SessionJson, also: string[] = []): void {
    const ids = [
      session.host._id,
      session.participant?._id ?? "",
      session.invitee?._id ?? "",
      ...also,
    ].filter(Boolean);
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

  /** Why a host-only update matched nothing: unknown, not the host, or the wrong status. */
  private async explainHostMiss(id: string, userId: string, action: string): Promise<never> {
    const current = await this.raw(id);
    if (!current) throw notFound();
    if (String(current.host) !== userId) throw notHost(action);
    await this.deps.chat.repair(current);
    throw wrongStatus(current.status);
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

  private async page(
    filter: Record<string, unknown>,
    query: SessionListQuery,
  ): Promise<{ sessions: SessionJson[]; hasMore: boolean }> {
    const limit = query.limit ?? SESSIONS_DEFAULT_LIMIT;
    const scoped: Record<string, unknown> = { ...filter };
    if (query.status) scoped.status = query.status;
    if (query.difficulty) scoped.difficulty = query.difficulty;
    if (query.before) scoped._id = { $lt: new Types.ObjectId(query.before) };
    const found = await this.find(scoped, { _id: -1 }, limit + 1);
    return { sessions: found.slice(0, limit), hasMore: found.length > limit };
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
      .populate("invitee")
      .lean();
    return sessions.map((s) => toSessionJson(s as unknown as PopulatedSession));
  }
}
