/**
 * Bench-only seeding: users, their sign-in sessions and chats go straight into the database (one
 * precomputed argon2id hash for everyone) and tokens are minted with the server's JWT_SECRET
 * through the app's own token module. Registering 1,000 users through the API would spend minutes
 * in argon2id, which is slow on purpose and not what these benchmarks measure.
 */
import { systemClock } from "../../src/clock.ts";
import { connect } from "../../src/db/index.ts";
import { pairKeyOf } from "../../src/db/models/chat.ts";
import { createModels } from "../../src/db/models/index.ts";
import { BuiltInTokens, TOKEN_TTL_SECONDS } from "../../src/modules/auth/tokens.ts";

export interface BenchUser {
  id: string;
  token: string;
}

export interface BenchChat {
  id: string;
  a: BenchUser;
  b: BenchUser;
}

export interface Seeded {
  users: BenchUser[];
  /** users[2i] and users[2i+1] share chats[i]. */
  chats: BenchChat[];
}

export const BENCH_PASSWORD = "bench password 1";

/** Inserts `userCount` users paired into one-to-one chats (userCount must be even). */
export async function seed(uri: string, jwtSecret: string, userCount: number): Promise<Seeded> {
  const connection = await connect(uri);
  try {
    const models = createModels(connection);
    await Promise.all([
      models.User.init(),
      models.Chat.init(),
      models.Message.init(),
      models.SignIn.init(),
    ]);
    const passwordHash = await Bun.password.hash(BENCH_PASSWORD);
    const tag = Date.now().toString(36);
    const at = new Date();
    // `lean` skips Mongoose's timestamps (and casting, which these plain values do not need).
    const userDocs = Array.from({ length: userCount }, (_, i) => ({
      name: `Bench ${i}`,
      email: `bench.${tag}.${i}@example.com`,
      passwordHash,
      avatar: "",
      createdAt: at,
      updatedAt: at,
    }));
    const inserted = await models.User.insertMany(userDocs, { lean: true });
    const ids = inserted.map((u) => String(u._id));
    const chatDocs = [];
    for (let i = 0; i + 1 < ids.length; i += 2) {
      const a = ids[i]!;
      const b = ids[i + 1]!;
      chatDocs.push({ pairKey: pairKeyOf(a, b), participants: [a, b] });
    }
    const chats = await models.Chat.insertMany(chatDocs);
    const expiresAt = new Date(at.getTime() + TOKEN_TTL_SECONDS * 1000);
    const signIns = await models.SignIn.insertMany(
      inserted.map((user) => ({ user: user._id, expiresAt, createdAt: at, updatedAt: at })),
      { lean: true },
    );
    const tokens = new BuiltInTokens(jwtSecret, systemClock);
    const users = await Promise.all(
      ids.map(async (id, i) => ({
        id,
        token: await tokens.sign(id, String(signIns[i]!._id), expiresAt),
      })),
    );
    return {
      users,
      chats: chats.map((chat, i) => ({
        id: String(chat._id),
        a: users[2 * i]!,
        b: users[2 * i + 1]!,
      })),
    };
  } finally {
    await connection.close();
  }
}
