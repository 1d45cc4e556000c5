import { StreamClient } from "@stream-io/node-sdk";
import { StreamChat } from "stream-chat";
import type { Config } from "../../config.ts";
import { StreamDisabledError, UpstreamError } from "../../errors.ts";
import type { Logger } from "../../plugins/logger.ts";

/** Video calls are `default:<callId>`, chat channels `messaging:<callId>` (see the contract). */
export const CALL_TYPE = "default";
export const CHANNEL_TYPE = "messaging";

/** How long a Stream user token is valid; clients fetch a new one through the token route. */
export const STREAM_TOKEN_TTL_SECONDS = 24 * 60 * 60;
const STREAM_TIMEOUT_MS = 5000;

export interface StreamUser {
  id: string;
  name: string;
  image?: string;
}

/** Stream's user id for one of ours: the Clerk id for Clerk users (as Clerk-era clients used), else `_id`. */
export function streamUserId(user: { id: string; clerkId?: string }): string {
  return user.clerkId || user.id;
}

/**
 * Stream Chat and Stream Video behind one small interface. Every SDK failure becomes
 * `UpstreamError` (502); the SDK's own message goes to the log, never to a client.
 */
export class StreamService {
  readonly apiKey: string;
  private readonly chat: StreamChat;
  private readonly video: StreamClient;

  constructor(
    settings: NonNullable<Config["stream"]>,
    private readonly log: Logger,
  ) {
    this.apiKey = settings.apiKey;
    // Not StreamChat.getInstance: that is a process-wide singleton, and tests run many apps.
    this.chat = new StreamChat(settings.apiKey, settings.apiSecret, {
      baseURL: settings.baseUrl,
      timeout: STREAM_TIMEOUT_MS,
    });
    this.video = new StreamClient(settings.apiKey, settings.apiSecret, {
      basePath: settings.baseUrl,
      timeout: STREAM_TIMEOUT_MS,
    });
  }

  /** Null when Stream is not configured. */
  static fromConfig(settings: Config["stream"], log: Logger): StreamService | null {
    return settings ? new StreamService(settings, log) : null;
  }

  /** A user token that Stream Chat and Stream Video both accept. */
  createUserToken(userId: string, now: Date = new Date()): string {
    const exp = Math.floor(now.getTime() / 1000) + STREAM_TOKEN_TTL_SECONDS;
    return this.chat.createToken(userId, exp);
  }

  async upsertUsers(users: StreamUser[]): Promise<void> {
    if (users.length === 0) return;
    await this.call("upsert users", () => this.chat.upsertUsers(users));
  }

  /** Soft-deletes the users; Stream runs it as a background task. */
  async deleteUsers(userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    await this.call("delete users", () => this.chat.deleteUsers(userIds, { user: "soft" }));
  }

  /** Creates the video call `default:<callId>`, or returns quietly when it already exists. */
  async createCall(callId: string, createdById: string, custom: Record<string, unknown> = {}) {
    await this.call("create call", () =>
      this.video.video.call(CALL_TYPE, callId).getOrCreate({
        data: { created_by_id: createdById, custom },
      }),
    );
  }

  /** Replaces the call's custom data fields given in `custom`. */
  async updateCall(callId: string, custom: Record<string, unknown>): Promise<void> {
    await this.call("update call", () =>
      this.video.video.call(CALL_TYPE, callId).update({ custom }),
    );
  }

  /** With `missingOk`, a call that is already gone counts as deleted (retries are idempotent). */
  async deleteCall(callId: string, options: { missingOk?: boolean } = {}): Promise<void> {
    await this.call(
      "delete call",
      () => this.video.video.call(CALL_TYPE, callId).delete({ hard: true }),
      options.missingOk,
    );
  }

  /** Creates the chat channel `messaging:<channelId>` with its first members. */
  async createChannel(
    channelId: string,
    createdById: string,
    options: { name?: string; members?: string[] } = {},
  ): Promise<void> {
    const members = options.members ?? [createdById];
    await this.call("create channel", () =>
      this.video.chat.channel(CHANNEL_TYPE, channelId).getOrCreate({
        data: {
          created_by_id: createdById,
          members: members.map((user_id) => ({ user_id })),
          custom: options.name ? { name: options.name } : undefined,
        },
      }),
    );
  }

  async addChannelMembers(channelId: string, userIds: string[]): Promise<void> {
    await this.call("add channel members", () =>
      this.video.chat.channel(CHANNEL_TYPE, channelId).update({
        add_members: userIds.map((user_id) => ({ user_id })),
      }),
    );
  }

  async removeChannelMembers(channelId: string, userIds: string[]): Promise<void> {
    await this.call("remove channel members", () =>
      this.video.chat.channel(CHANNEL_TYPE, channelId).update({ remove_members: userIds }),
    );
  }

  /** With `missingOk`, a channel that is already gone counts as deleted (retries are idempotent). */
  async deleteChannel(channelId: string, options: { missingOk?: boolean } = {}): Promise<void> {
    await this.call(
      "delete channel",
      () => this.video.chat.channel(CHANNEL_TYPE, channelId).delete({ hard_delete: true }),
      options.missingOk,
    );
  }

  private async call<T>(
    what: string,
    operation: () => Promise<T>,
    missingOk = false,
  ): Promise<T | undefined> {
    try {
      return await operation();
    } catch (error) {
      if (missingOk && isNotFound(error)) return undefined;
      this.log.warn({ err: error }, `Stream: ${what} failed`);
      throw new UpstreamError("Stream");
    }
  }
}

/** Stream answered 404: the node SDK keeps the HTTP status in `metadata`, stream-chat in `status`. */
function isNotFound(error: unknown): boolean {
  const e = error as { status?: unknown; metadata?: { responseCode?: unknown } } | null;
  return e?.metadata?.responseCode === 404 || e?.status === 404;
}

/** The Stream service, or the contract's 503 when Stream is not configured. */
export function requireStream(stream: StreamService | null): StreamService {
  if (!stream) throw new StreamDisabledError();
  return stream;
}

export interface StreamTokenUser {
  id: string;
  name: string;
  avatar: string;
  clerkId?: string;
}

/**
 * Upserts the caller as a Stream user (so Chat and Video show the right name and picture), then
 * hands out a user token for them.
 */
export async function issueStreamToken(stream: StreamService | null, user: StreamTokenUser) {
  const service = requireStream(stream);
  const userId = streamUserId(user);
  await service.upsertUsers([{ id: userId, name: user.name, image: user.avatar || undefined }]);
  return {
    token: service.createUserToken(userId),
    userId,
    userName: user.name,
    userImage: user.avatar,
    apiKey: service.apiKey,
  };
}
