import type mongoose from "mongoose";
import type { UserFields, UserModel, UserRole } from "../../db/models/user.ts";
import { ConflictError, NotFoundError } from "../../errors.ts";
import {
  NAME_MAX,
  type PublicUser,
  type UpdateMeBody,
  USERS_DEFAULT_LIMIT,
  type UserListQuery,
} from "./model.ts";

/** What a stored user looks like once read, hydrated or lean. */
export type StoredUser = UserFields & { _id: mongoose.Types.ObjectId | string };

/** The contract's User: string id, ISO dates, never a password hash. */
export function toUserJson(user: StoredUser): PublicUser {
  const json: PublicUser = {
    _id: String(user._id),
    name: user.name,
    email: user.email ?? "",
    avatar: user.avatar ?? "",
    // Accounts stored before roles existed are candidates, as new ones are by default.
    role: user.role ?? "candidate",
    createdAt: new Date(user.createdAt).toISOString(),
    updatedAt: new Date(user.updatedAt).toISOString(),
  };
  if (user.clerkId) json.clerkId = user.clerkId;
  return json;
}

/**
 * Where a user removed since (Clerk's `user.deleted`) was referenced: what they left (a session,
 * a room, messages) stays readable.
 */
export function goneUser(): PublicUser {
  const epoch = new Date(0).toISOString();
  return {
    _id: "",
    name: "Deleted user",
    email: "",
    avatar: "",
    role: "candidate",
    createdAt: epoch,
    updatedAt: epoch,
  };
}

/** What Clerk tells us about a user, from a session token's claims, its API or a webhook. */
export interface ClerkProfile {
  clerkId: string;
  email?: string;
  name?: string;
  avatar?: string;
}

export interface NewAccount {
  name: string;
  email: string;
  passwordHash: string;
  role?: UserRole;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function isDuplicateKey(error: unknown): boolean {
  return (
    typeof error === "object" && error !== null && (error as { code?: unknown }).code === 11000
  );
}

function emailTaken(): ConflictError {
  return new ConflictError("An account with this email already exists", "EMAIL_TAKEN");
}

/** A display name Mongo accepts: trimmed, 1–50 characters, never empty. */
function displayName(profile: ClerkProfile): string {
  const name = profile.name?.trim() || profile.email?.split("@")[0] || "New user";
  return name.slice(0, NAME_MAX);
}

function normalizeEmail(email: string | undefined): string | undefined {
  const trimmed = email?.trim().toLowerCase();
  return trimmed ? trimmed : undefined;
}

export class UsersService {
  constructor(private readonly users: UserModel) {}

  async findById(id: string): Promise<StoredUser | null> {
    if (!/^[0-9a-fA-F]{24}$/.test(id)) return null;
    return this.users.findById(id).lean<StoredUser>();
  }

  async findByClerkId(clerkId: string): Promise<StoredUser | null> {
    return this.users.findOne({ clerkId }).lean<StoredUser>();
  }

  async get(id: string): Promise<PublicUser> {
    const user = await this.findById(id);
    if (!user) throw new NotFoundError("User not found");
    return toUserJson(user);
  }

  /** Everyone but `callerId`, optionally narrowed to a name or email prefix and a role, by name. */
  async list(callerId: string, options: UserListQuery): Promise<PublicUser[]> {
    const filter: mongoose.QueryFilter<UserFields> = { _id: { $ne: callerId } };
    // Accounts stored before roles existed have none, and count as candidates.
    if (options.role === "candidate") filter.role = { $in: ["candidate", null] };
    else if (options.role) filter.role = options.role;
    const q = options.q?.trim();
    if (q) {
      const prefix = new RegExp(`^${escapeRegex(q)}`, "i");
      filter.$or = [{ name: prefix }, { email: prefix }];
    }
    const users = await this.users
      .find(filter)
      .sort({ name: 1, _id: 1 })
      .limit(options.limit ?? USERS_DEFAULT_LIMIT)
      .lean<StoredUser[]>();
    return users.map(toUserJson);
  }

  /**
   * The caller changes their own name, picture or role. For a Clerk user, Clerk stays the source
   * of the name and picture: its next `user.updated` overwrites them (the role is ours alone).
   */
  async updateMe(userId: string, changes: UpdateMeBody): Promise<PublicUser> {
    const set: Partial<UserFields> = {};
    if (changes.name !== undefined) set.name = changes.name.trim();
    if (changes.avatar !== undefined) set.avatar = changes.avatar.trim();
    if (changes.role !== undefined) set.role = changes.role;
    const user = await this.users
      .findByIdAndUpdate(userId, { $set: set }, { returnDocument: "after", runValidators: true })
      .lean<StoredUser>();
    if (!user) throw new NotFoundError("User not found");
    return toUserJson(user);
  }

  /** Creates a built-in account; the unique index decides a race between two registrations. */
  async create(account: NewAccount): Promise<PublicUser> {
    try {
      const user = await this.users.create(account);
      return toUserJson(user.toObject());
    } catch (error) {
      if (isDuplicateKey(error)) throw emailTaken();
      throw error;
    }
  }

  /** The account with this email and its password hash, for login only. */
  async findWithPassword(email: string): Promise<(StoredUser & { passwordHash?: string }) | null> {
    return this.users
      .findOne({ email })
      .select("+passwordHash")
      .lean<StoredUser & { passwordHash?: string }>();
  }

  /**
   * The user behind a Clerk id, created on first sight. Concurrent first requests make one user:
   * the upsert's `$setOnInsert` never overwrites, and a duplicate-key loser re-reads the winner.
   * An email already held by another account is refused rather than merged: built-in accounts
   * do not prove they own their email, so merging would hand a Clerk user's identity to whoever
   * registered that address first.
   */
  async provisionFromClerk(profile: ClerkProfile): Promise<StoredUser> {
    const existing = await this.findByClerkId(profile.clerkId);
    if (existing) return existing;
    const email = normalizeEmail(profile.email);
    if (email && (await this.users.exists({ email, clerkId: { $ne: profile.clerkId } }))) {
      throw emailTaken();
    }
    const insert: Partial<UserFields> = {
      clerkId: profile.clerkId,
      name: displayName(profile),
      avatar: profile.avatar ?? "",
    };
    if (email) insert.email = email;
    try {
      const user = await this.users
        .findOneAndUpdate(
          { clerkId: profile.clerkId },
          { $setOnInsert: insert },
          { upsert: true, returnDocument: "after", runValidators: true },
        )
        .lean<StoredUser>();
      if (user) return user;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const winner = await this.findByClerkId(profile.clerkId);
    if (!winner) throw emailTaken();
    return winner;
  }

  /**
   * Creates or refreshes a Clerk user from Clerk's own record (webhook, callback): Clerk is the
   * source of truth for name, email and avatar. Replaying the same event changes nothing.
   */
  async syncFromClerk(profile: ClerkProfile): Promise<StoredUser> {
    const email = normalizeEmail(profile.email);
    if (email && (await this.users.exists({ email, clerkId: { $ne: profile.clerkId } }))) {
      throw emailTaken();
    }
    const set: Partial<UserFields> = { name: displayName(profile), avatar: profile.avatar ?? "" };
    if (email) set.email = email;
    const upsert = () =>
      this.users
        .findOneAndUpdate(
          { clerkId: profile.clerkId },
          { $set: set },
          { upsert: true, returnDocument: "after", runValidators: true },
        )
        .lean<StoredUser>();
    let user: StoredUser | null;
    try {
      user = await upsert();
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      // Either a concurrent upsert inserted this Clerk user first (the retry updates it), or
      // another account took the email in the meantime (the retry fails the same way).
      try {
        user = await upsert();
      } catch (again) {
        if (isDuplicateKey(again)) throw emailTaken();
        throw again;
      }
    }
    if (!user) throw new Error("The user upsert returned no document");
    return user;
  }

  /** Removes a Clerk user; returns what was removed, or null when nothing was there. */
  async deleteByClerkId(clerkId: string): Promise<StoredUser | null> {
    return this.users.findOneAndDelete({ clerkId }).lean<StoredUser>();
  }
}
