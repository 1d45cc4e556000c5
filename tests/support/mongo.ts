/**
 * A MongoDB for one test file: a fresh random database on MONGODB_URI when
 * that is set (dropped again at stop), otherwise a new in-memory embedded
 * store on a free port. Tests written against this run unchanged on both.
 */
import { MongoClient, MongoServerError } from "mongodb";
import { startEmbeddedStore } from "../../src/db/embedded/index.ts";

export interface TestMongo {
  readonly uri: string;
  readonly dbName: string;
  /** True when running against a real server from MONGODB_URI. */
  readonly external: boolean;
  stop(): Promise<void>;
}

export const usingExternalMongo = Boolean(process.env.MONGODB_URI);

function randomDbName(): string {
  return `test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function testMongo(): Promise<TestMongo> {
  const dbName = randomDbName();
  const external = process.env.MONGODB_URI;
  if (external) {
    return {
      uri: external,
      dbName,
      external: true,
      async stop() {
        const client = new MongoClient(external);
        try {
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
        }
      },
    };
  }
  const store = await startEmbeddedStore({ port: 0 });
  return { uri: store.uri, dbName, external: false, stop: () => store.stop() };
}

/** The server's error from a command that must fail (anything else fails the test). */
export async function serverError(promise: Promise<unknown>): Promise<MongoServerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MongoServerError) return error;
    throw error;
  }
  throw new Error("expected a server error");
}
