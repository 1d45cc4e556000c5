/**
 * The embedded MongoDB-compatible store, driven through the official driver
 * and Mongoose. Runs unchanged against a real server with MONGODB_URI set;
 * tests about the embedded store itself (journal, raw wire) are skipped then.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deserialize, serialize } from "bson";
import {
  Binary,
  type Db,
  Decimal128,
  Double,
  Int32,
  Long,
  MongoBulkWriteError,
  MongoClient,
  ObjectId,
} from "mongodb";
import mongoose from "mongoose";
import { type EmbeddedStore, startEmbeddedStore } from "../src/db/embedded/index.ts";
import { serverError, type TestMongo, testMongo, usingExternalMongo } from "./support/mongo.ts";

let mongo: TestMongo;
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  mongo = await testMongo();
  client = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  db = client.db(mongo.dbName);
});

afterAll(async () => {
  await client?.close();
  await mongo?.stop();
});

interface OperatorsDoc {
  count?: number;
  tags?: string[];
  scores?: number[];
  nested?: { x: number; y?: number };
  gone?: boolean;
  grades?: Array<{ k: string; v: number }>;
  best?: number;
  total?: number;
  key?: string;
  a?: number;
  created?: boolean;
}

interface ThingDoc {
  sku: string;
  log?: string[];
  price?: Decimal128;
  qty?: Double;
  at?: Date;
  gone?: boolean;
}

describe("CRUD through the driver", () => {
  test("insert, find, update, replace, delete", async () => {
    const users = db.collection("crud_users");
    const { insertedId } = await users.insertOne({ name: "Ada", age: 36 });
    expect(insertedId).toBeInstanceOf(ObjectId);
    await users.insertMany([
      { name: "Grace", age: 45 },
      { name: "Linus", age: 28 },
    ]);

    const found = await users.findOne({ _id: new ObjectId(insertedId.toHexString()) });
    expect(found?.name).toBe("Ada");

    const updated = await users.updateOne({ name: "Ada" }, { $set: { age: 37 } });
    expect(updated.matchedCount).toBe(1);
    expect(updated.modifiedCount).toBe(1);
    const unchanged = await users.updateOne({ name: "Ada" }, { $set: { age: 37 } });
    expect(unchanged.matchedCount).toBe(1);
    expect(unchanged.modifiedCount).toBe(0);

    const many = await users.updateMany({ age: { $gt: 30 } }, { $set: { senior: true } });
    expect(many.modifiedCount).toBe(2);

    const replaced = await users.replaceOne({ name: "Linus" }, { name: "Linus", lang: "C" });
    expect(replaced.modifiedCount).toBe(1);
    expect<unknown>(await users.findOne({ name: "Linus" }, { projection: { _id: 0 } })).toEqual({
      name: "Linus",
      lang: "C",
    });

    const upserted = await users.updateOne(
      { name: "Barbara" },
      { $set: { age: 80 } },
      { upsert: true },
    );
    expect(upserted.upsertedCount).toBe(1);
    expect(upserted.upsertedId).toBeInstanceOf(ObjectId);

    expect((await users.deleteOne({ name: "Ada" })).deletedCount).toBe(1);
    expect((await users.deleteMany({})).deletedCount).toBe(3);
    expect(await users.countDocuments()).toBe(0);
  });

  test("update operators", async () => {
    const items = db.collection<OperatorsDoc>("crud_operators");
    const { insertedId: _id } = await items.insertOne({
      count: 1,
      tags: ["a"],
      scores: [1, 5, 9],
      nested: { x: 1 },
      gone: true,
      grades: [
        { k: "math", v: 1 },
        { k: "art", v: 2 },
      ],
    });
    await items.updateOne(
      { _id },
      {
        $inc: { count: 2 },
        $push: { tags: "b" },
        $addToSet: { scores: 5 },
        $set: { "nested.y": 2 },
        $unset: { gone: "" },
        $max: { best: 10 },
      },
    );
    await items.updateOne(
      { _id },
      {
        $addToSet: { tags: { $each: ["b", "c"] } },
        $pull: { scores: { $gt: 4 } },
        $min: { best: 3 },
      },
    );
    await items.updateOne({ _id, "grades.k": "art" }, { $set: { "grades.$.v": 20 } });
    await items.updateOne(
      { _id },
      { $set: { "grades.$[g].v": 10 } },
      { arrayFilters: [{ "g.k": "math" }] },
    );
    const doc = await items.findOne({ _id });
    expect(doc).toEqual({
      _id,
      count: 3,
      tags: ["a", "b", "c"],
      scores: [1],
      nested: { x: 1, y: 2 },
      grades: [
        { k: "math", v: 10 },
        { k: "art", v: 20 },
      ],
      best: 3,
    });

    await items.updateOne({ _id }, [{ $set: { total: { $add: ["$count", "$best"] } } }]);
    expect((await items.findOne({ _id }))?.total).toBe(6);

    await items.updateOne(
      { key: "new" },
      { $set: { a: 1 }, $setOnInsert: { created: true } },
      { upsert: true },
    );
    await items.updateOne(
      { key: "new" },
      { $set: { a: 2 }, $setOnInsert: { created: false } },
      { upsert: true },
    );
    expect<unknown>(await items.findOne({ key: "new" }, { projection: { _id: 0 } })).toEqual({
      key: "new",
      a: 2,
      created: true,
    });

    const immutable = await serverError(
      items.updateOne({ _id }, { $set: { _id: new ObjectId() } }),
    );
    expect(immutable.code).toBe(66);
  });

  test("findOneAndUpdate returns the new document even when the update un-matches the filter", async () => {
    const seats = db.collection("fam_projection");
    const { insertedId } = await seats.insertOne({ status: "open", taker: null, note: "x" });
    const taken = await seats.findOneAndUpdate(
      { _id: insertedId, status: "open", taker: null },
      { $set: { status: "taken", taker: "bob" } },
      { returnDocument: "after", projection: { status: 1, taker: 1 } },
    );
    expect(taken).toEqual({ _id: insertedId, status: "taken", taker: "bob" });
    const before = await seats.findOneAndUpdate(
      { _id: insertedId, status: "taken" },
      { $set: { status: "closed" } },
      { returnDocument: "before", projection: { status: 1 } },
    );
    expect(before).toEqual({ _id: insertedId, status: "taken" });
  });

  test("sort, skip, limit and projection", async () => {
    const rows = db.collection("crud_sorting");
    await rows.insertMany(
      Array.from({ length: 10 }, (_, i) => ({
        i,
        group: i % 3,
        when: new Date(Date.UTC(2024, 0, 10 - i)),
        extra: "x",
      })),
    );
    const page = await rows
      .find({ group: { $in: [0, 1] } })
      .sort({ group: 1, i: -1 })
      .skip(1)
      .limit(3)
      .project({ _id: 0, i: 1, group: 1 })
      .toArray();
    expect(page).toEqual([
      { i: 6, group: 0 },
      { i: 3, group: 0 },
      { i: 0, group: 0 },
    ]);
    const byDate = await rows
      .find({ when: { $gte: new Date(Date.UTC(2024, 0, 8)) } })
      .sort({ when: 1 })
      .toArray();
    expect(byDate.map((row) => row.i)).toEqual([2, 1, 0]);
    const excluded = await rows.findOne({ i: 4 }, { projection: { extra: 0, when: 0 } });
    expect(Object.keys(excluded ?? {}).sort()).toEqual(["_id", "group", "i"]);
  });

  test("cursors span getMore batches and can be closed early", async () => {
    const many = db.collection("crud_cursor");
    await many.insertMany(Array.from({ length: 250 }, (_, n) => ({ n })));
    const all = await many.find({}, { batchSize: 20 }).sort({ n: 1 }).toArray();
    expect(all.map((doc) => doc.n)).toEqual(Array.from({ length: 250 }, (_, n) => n));

    const cursor = many.find({}).batchSize(10);
    expect((await cursor.next())?.n).toBeDefined();
    await cursor.close();

    expect(await many.find({}).limit(-5).toArray()).toHaveLength(5);

    const opened = await db.command({ find: "crud_cursor", filter: {}, batchSize: 2 });
    expect(opened.cursor.firstBatch).toHaveLength(2);
    expect(opened.cursor.ns).toBe(`${mongo.dbName}.crud_cursor`);
    const cursorId = opened.cursor.id;
    const more = await db.command({ getMore: cursorId, collection: "crud_cursor", batchSize: 3 });
    expect(more.cursor.nextBatch).toHaveLength(3);
    const killed = await db.command({ killCursors: "crud_cursor", cursors: [cursorId] });
    expect(killed.cursorsKilled.map(String)).toEqual([String(cursorId)]);
    const gone = await serverError(db.command({ getMore: cursorId, collection: "crud_cursor" }));
    expect(gone.code).toBe(43);
  });

  test("ObjectId equality, $in and sorting use values, not instances", async () => {
    const refs = db.collection("crud_refs");
    const ids = Array.from({ length: 5 }, () => new ObjectId());
    await refs.insertMany(ids.map((_id, n) => ({ _id, n, owner: ids[0] })));
    const copies = ids.map((id) => new ObjectId(id.toHexString()));
    expect(await refs.countDocuments({ _id: { $in: copies.slice(1, 3) } })).toBe(2);
    expect(await refs.countDocuments({ owner: copies[0] })).toBe(5);
    expect(await refs.countDocuments({ _id: { $nin: copies.slice(0, 1) } })).toBe(4);
    const sorted = await refs.find().sort({ _id: -1 }).toArray();
    expect(sorted.map((doc) => doc._id.toHexString())).toEqual(
      ids
        .map((id) => id.toHexString())
        .sort()
        .reverse(),
    );
  });
});

describe("unique indexes", () => {
  test("single field: insert, update and findOneAndUpdate report E11000", async () => {
    const people = db.collection("uniq_people");
    await people.createIndex({ email: 1 }, { unique: true });
    await people.insertOne({ email: "a@b.c" });
    const dup = await serverError(people.insertOne({ email: "a@b.c" }));
    expect(dup.code).toBe(11000);
    expect(dup.message).toContain("E11000 duplicate key error");
    expect(dup.message).toContain("index: email_1 dup key:");
    expect(dup.errorResponse.keyPattern).toEqual({ email: 1 });
    expect(dup.errorResponse.keyValue).toEqual({ email: "a@b.c" });

    await people.insertOne({ email: "x@y.z" });
    const updateDup = await serverError(
      people.updateOne({ email: "x@y.z" }, { $set: { email: "a@b.c" } }),
    );
    expect(updateDup.code).toBe(11000);
    const famDup = await serverError(
      people.findOneAndUpdate({ email: "x@y.z" }, { $set: { email: "a@b.c" } }),
    );
    expect(famDup.code).toBe(11000);
    expect(famDup.errorResponse.keyValue).toEqual({ email: "a@b.c" });

    // A document without the field indexes as null: only one may be missing it.
    await people.insertOne({ name: "no email" });
    expect((await serverError(people.insertOne({ name: "also none" }))).code).toBe(11000);

    const idDup = await serverError(
      people.insertOne({ _id: (await people.findOne({ email: "a@b.c" }))?._id }),
    );
    expect(idDup.code).toBe(11000);
    expect(idDup.message).toContain("index: _id_");
  });

  test("ordered and unordered batches", async () => {
    const tags = db.collection("uniq_batches");
    await tags.createIndex({ slug: 1 }, { unique: true });
    const ordered = await tags
      .insertMany([{ slug: "a" }, { slug: "a" }, { slug: "b" }])
      .catch((error) => error);
    expect(ordered).toBeInstanceOf(MongoBulkWriteError);
    expect(ordered.code).toBe(11000);
    expect(ordered.result.insertedCount).toBe(1);
    expect(ordered.writeErrors.map((error: { index: number }) => error.index)).toEqual([1]);
    expect((await tags.find().toArray()).map((doc) => doc.slug)).toEqual(["a"]);

    const unordered = await tags
      .insertMany([{ slug: "c" }, { slug: "a" }, { slug: "d" }, { slug: "c" }], { ordered: false })
      .catch((error) => error);
    expect(unordered).toBeInstanceOf(MongoBulkWriteError);
    expect(unordered.result.insertedCount).toBe(2);
    expect(
      unordered.writeErrors.map((error: { index: number; code: number }) => [
        error.index,
        error.code,
      ]),
    ).toEqual([
      [1, 11000],
      [3, 11000],
    ]);
    expect((await tags.find().sort({ slug: 1 }).toArray()).map((doc) => doc.slug)).toEqual([
      "a",
      "c",
      "d",
    ]);

    // The driver hides keyPattern/keyValue of batch write errors; the raw reply carries them.
    const raw = await db.command({
      insert: "uniq_batches",
      documents: [{ slug: "e" }, { slug: "d" }],
      ordered: false,
    });
    expect(raw.ok).toBe(1);
    expect(raw.n).toBe(1);
    expect(raw.writeErrors).toHaveLength(1);
    expect(raw.writeErrors[0]).toMatchObject({
      index: 1,
      code: 11000,
      keyPattern: { slug: 1 },
      keyValue: { slug: "d" },
    });

    const updates = await db.command({
      update: "uniq_batches",
      updates: [
        { q: { slug: "e" }, u: { $set: { slug: "a" } } },
        { q: { slug: "zz" }, u: { $set: { n: 1 } }, upsert: true },
      ],
      ordered: false,
    });
    expect(updates.n).toBe(1);
    expect(updates.upserted).toHaveLength(1);
    expect(updates.upserted[0].index).toBe(1);
    expect(updates.writeErrors[0]).toMatchObject({
      index: 0,
      code: 11000,
      keyValue: { slug: "a" },
    });
  });

  test("compound, sparse and partial unique indexes", async () => {
    const members = db.collection("uniq_kinds");
    await members.createIndex({ team: 1, user: 1 }, { unique: true });
    await members.insertMany([
      { team: 1, user: "a" },
      { team: 2, user: "a" },
    ]);
    const compound = await serverError(members.insertOne({ team: 1, user: "a" }));
    expect(compound.errorResponse.keyPattern).toEqual({ team: 1, user: 1 });
    expect(compound.errorResponse.keyValue).toEqual({ team: 1, user: "a" });

    const sparse = db.collection("uniq_sparse");
    await sparse.createIndex({ handle: 1 }, { unique: true, sparse: true });
    await sparse.insertMany([{ n: 1 }, { n: 2 }, { handle: "h" }]);
    expect((await serverError(sparse.insertOne({ handle: "h" }))).code).toBe(11000);

    const partial = db.collection("uniq_partial");
    await partial.createIndex(
      { email: 1 },
      { unique: true, partialFilterExpression: { active: true } },
    );
    await partial.insertMany([
      { email: "e", active: false },
      { email: "e", active: false },
      { email: "e", active: true },
    ]);
    expect((await serverError(partial.insertOne({ email: "e", active: true }))).code).toBe(11000);

    const indexes = await partial.listIndexes().toArray();
    expect(indexes.map((index) => index.name)).toEqual(["_id_", "email_1"]);
    expect(indexes[1]).toMatchObject({
      v: 2,
      key: { email: 1 },
      unique: true,
      partialFilterExpression: { active: true },
    });
  });

  test("building a unique index over duplicates fails; indexes can be listed and dropped", async () => {
    const dupes = db.collection("uniq_build");
    await dupes.insertMany([{ code: 1 }, { code: 1 }]);
    expect((await serverError(dupes.createIndex({ code: 1 }, { unique: true }))).code).toBe(11000);
    await dupes.createIndex({ code: 1, other: -1 });
    await dupes.createIndex({ code: 1, other: -1 });
    const names = (await dupes.listIndexes().toArray()).map((index) => index.name);
    expect(names).toEqual(["_id_", "code_1_other_-1"]);
    await dupes.dropIndex("code_1_other_-1");
    expect((await dupes.listIndexes().toArray()).map((index) => index.name)).toEqual(["_id_"]);
  });
});

describe("expressions in filters, projections and updates", () => {
  test("$expr, computed projections, $elemMatch and conditional $pull", async () => {
    const sums = db.collection("expr_sums");
    await sums.insertMany([
      { n: 1, a: 2, b: 3, items: [{ k: 1 }, { k: 5 }] },
      { n: 2, a: 5, b: 1, items: [{ k: 7 }] },
    ]);
    const bigger = await sums.find({ $expr: { $gt: ["$a", "$b"] } }).toArray();
    expect(bigger.map((d) => d.n)).toEqual([2]);
    const nested = await sums.find({ $or: [{ n: 9 }, { $expr: { $lt: ["$a", "$b"] } }] }).toArray();
    expect(nested.map((d) => d.n)).toEqual([1]);
    const computed = await sums
      .find({}, { projection: { _id: 0, n: 1, total: { $add: ["$a", "$b"] } } })
      .sort({ n: 1 })
      .toArray();
    expect(computed as unknown[]).toEqual([
      { n: 1, total: 5 },
      { n: 2, total: 6 },
    ]);
    const matched = await sums.findOne(
      { n: 1 },
      { projection: { _id: 0, items: { $elemMatch: { k: { $gt: 2 } } } } },
    );
    expect(matched as unknown).toEqual({ items: [{ k: 5 }] });
    await sums.updateOne({ n: 1 }, { $pull: { items: { k: { $gte: 5 } } } as never });
    expect((await sums.findOne({ n: 1 }))?.items).toEqual([{ k: 1 }]);
  });
});

describe("non-unique indexes", () => {
  test("equality lookups through an index find what a scan finds, through every change", async () => {
    const indexed = db.collection("fi_indexed");
    const plain = db.collection("fi_plain");
    await indexed.createIndex({ room: 1, at: -1 });
    await indexed.createIndex({ tags: 1 });
    const ids = Array.from({ length: 3 }, () => new ObjectId());
    const docs = Array.from({ length: 60 }, (_, i) => ({
      _id: new ObjectId(),
      room: ids[i % 3],
      at: i,
      ...(i % 5 === 0 ? {} : { tags: i % 2 ? ["odd", `t${i % 4}`] : "even" }),
    }));
    await indexed.insertMany(docs);
    await plain.insertMany(docs);
    const same = async (filter: Record<string, unknown>) => {
      const a = await indexed.find(filter).sort({ _id: 1 }).toArray();
      const b = await plain.find(filter).sort({ _id: 1 }).toArray();
      expect(a).toEqual(b);
      return a.length;
    };
    const check = async () => {
      expect(await same({ room: ids[0] })).toBeGreaterThan(0);
      await same({ room: { $in: [ids[1], ids[2]] } });
      await same({ room: ids[0], at: { $gte: 30 } });
      expect(await same({ tags: "odd" })).toBeGreaterThan(0);
      await same({ tags: "even" });
      await same({ tags: "t1" });
      await same({ tags: null });
      await same({ tags: ["odd", "t1"] });
      await same({ room: new ObjectId() });
    };
    await check();
    for (const coll of [indexed, plain]) {
      await coll.updateMany({ at: { $lt: 10 } }, { $set: { room: ids[2] } });
      // $push onto the string "even" would fail the write (code 2), as on mongod.
      await coll.updateMany(
        { at: { $gte: 50 }, tags: { $ne: "even" } },
        { $push: { tags: "late" } as never },
      );
      await coll.deleteMany({ at: { $in: [11, 12, 13] } });
    }
    await check();
    await indexed.dropIndex("tags_1");
    await check();
  });
});

describe("counting, distinct and aggregation", () => {
  test("countDocuments, estimatedDocumentCount, distinct", async () => {
    const posts = db.collection("agg_posts");
    await posts.insertMany([
      { author: "a", tags: ["x", "y"] },
      { author: "b", tags: ["y"] },
      { author: "a", tags: [] },
      { author: "c" },
    ]);
    expect(await posts.countDocuments({ author: "a" })).toBe(2);
    expect(await posts.countDocuments({}, { skip: 1, limit: 2 })).toBe(2);
    expect(await posts.estimatedDocumentCount()).toBe(4);
    expect((await posts.distinct("author")).sort()).toEqual(["a", "b", "c"]);
    expect((await posts.distinct("tags", { author: "a" })).sort()).toEqual(["x", "y"]);
  });

  test("$lookup, $unwind, $group, $sort, $project, $count", async () => {
    const authors = db.collection("agg_authors");
    const books = db.collection("agg_books");
    const [ada, bob] = [new ObjectId(), new ObjectId()];
    await authors.insertMany([
      { _id: ada, name: "Ada" },
      { _id: bob, name: "Bob" },
    ]);
    await books.insertMany([
      { title: "T1", author: ada, pages: 100 },
      { title: "T2", author: ada, pages: 50 },
      { title: "T3", author: bob, pages: 10 },
    ]);
    const perAuthor = await books
      .aggregate([
        {
          $lookup: { from: "agg_authors", localField: "author", foreignField: "_id", as: "writer" },
        },
        { $unwind: "$writer" },
        { $group: { _id: "$writer.name", pages: { $sum: "$pages" }, books: { $sum: 1 } } },
        { $sort: { pages: -1 } },
        { $project: { _id: 0, name: "$_id", pages: 1, books: 1 } },
      ])
      .toArray();
    expect(perAuthor).toEqual([
      { pages: 150, books: 2, name: "Ada" },
      { pages: 10, books: 1, name: "Bob" },
    ]);
    const counted = await books
      .aggregate([{ $match: { pages: { $gte: 50 } } }, { $count: "n" }])
      .toArray();
    expect(counted).toEqual([{ n: 2 }]);
    // Stages that add fields must not leak into stored documents.
    await books.aggregate([{ $addFields: { "author.x": 1, flag: true } }]).toArray();
    expect((await books.findOne({ title: "T1" }))?.flag).toBeUndefined();
  });
});

describe("BSON types", () => {
  test("round-trip exactly, including Int32 vs Double vs Long", async () => {
    const typed = db.collection("types_roundtrip");
    const original = {
      _id: new ObjectId(),
      when: new Date("2024-05-06T07:08:09.123Z"),
      price: Decimal128.fromString("12345.678901234567890"),
      blob: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      uuid: new Binary(Buffer.from("0123456789abcdef"), 4),
      int: new Int32(7),
      double: new Double(7),
      fraction: new Double(7.5),
      long: Long.fromNumber(7),
      bigLong: Long.fromString("9007199254740993"),
      nested: {
        list: [new Int32(1), new Double(2), { deep: Long.fromNumber(3) }],
        text: "hé",
        yes: true,
        nothing: null,
      },
    };
    await typed.insertOne(original);
    const raw = await typed.findOne(
      { _id: original._id },
      { promoteValues: false, promoteLongs: false },
    );
    expect(raw).not.toBeNull();
    const doc = raw as unknown as Record<string, unknown> & { nested: { list: unknown[] } };
    expect(doc.int).toBeInstanceOf(Int32);
    expect(doc.double).toBeInstanceOf(Double);
    expect(doc.fraction).toBeInstanceOf(Double);
    expect(doc.long).toBeInstanceOf(Long);
    expect(String(doc.bigLong)).toBe("9007199254740993");
    expect(doc.nested.list[0]).toBeInstanceOf(Int32);
    expect(doc.nested.list[1]).toBeInstanceOf(Double);
    expect((doc.nested.list[2] as { deep: unknown }).deep).toBeInstanceOf(Long);

    const promoted = await typed.findOne({ _id: original._id });
    expect(promoted?.when).toEqual(original.when);
    expect(promoted?.price.toString()).toBe("12345.678901234567890");
    expect(Buffer.from(promoted?.blob.buffer).toString("hex")).toBe("000102ff");
    expect(promoted?.uuid.sub_type).toBe(4);
    expect(promoted?.nested.text).toBe("hé");

    // Queries match across numeric widths and on the other types.
    expect(await typed.countDocuments({ long: 7, int: 7.0, double: { $gte: 7 } })).toBe(1);
    expect(await typed.countDocuments({ when: new Date(original.when.getTime()) })).toBe(1);
    expect(
      await typed.countDocuments({ price: Decimal128.fromString("12345.678901234567890") }),
    ).toBe(1);

    // Untouched fields keep their types through an update.
    await typed.updateOne({ _id: original._id }, { $set: { other: 1 }, $inc: { double: 1 } });
    const after = await typed.findOne({ _id: original._id }, { promoteValues: false });
    expect(after?.double).toBeInstanceOf(Double);
    expect(after?.long).toBeInstanceOf(Long);
    expect(Number(after?.double)).toBe(8);
  });
});

describe("Mongoose", () => {
  let connection: mongoose.Connection;

  beforeAll(async () => {
    connection = await mongoose
      .createConnection(mongo.uri, { dbName: mongo.dbName, autoIndex: true })
      .asPromise();
  });

  afterAll(async () => {
    await connection?.close();
  });

  test("schema with a unique index, populate, save and queries", async () => {
    const User = connection.model(
      "MgUser",
      new mongoose.Schema({
        email: { type: String, unique: true, required: true },
        name: String,
        age: Number,
      }),
    );
    const Post = connection.model(
      "MgPost",
      new mongoose.Schema(
        {
          title: String,
          author: { type: mongoose.Schema.Types.ObjectId, ref: "MgUser" },
          tags: [String],
        },
        { timestamps: true },
      ),
    );
    await User.init();
    await Post.init();
    expect((await User.listIndexes()).map((index) => index.name)).toContain("email_1");

    const ada = await User.create({ email: "ada@example.com", name: "Ada", age: 36 });
    const dup = await User.create({ email: "ada@example.com", name: "Imposter" }).catch(
      (error) => error,
    );
    expect(dup.code).toBe(11000);
    expect(dup.keyValue).toEqual({ email: "ada@example.com" });

    await Post.create([
      { title: "one", author: ada._id, tags: ["a"] },
      { title: "two", author: ada._id, tags: ["b"] },
    ]);
    const posts = await Post.find()
      .sort({ title: 1 })
      .populate<{ author: { name: string } }>("author")
      .lean();
    expect(posts.map((post) => [post.title, post.author.name])).toEqual([
      ["one", "Ada"],
      ["two", "Ada"],
    ]);
    expect(posts[0]?.createdAt).toBeInstanceOf(Date);

    const loaded = await User.findById(ada._id);
    if (!loaded) throw new Error("user not found");
    loaded.age = 37;
    await loaded.save();
    expect((await User.findOne({ email: "ada@example.com" }).lean())?.age).toBe(37);
    expect(await Post.countDocuments({ author: ada._id })).toBe(2);
    expect(await User.exists({ name: "Nobody" })).toBeNull();
    await User.syncIndexes();
    await Post.deleteMany({ tags: "a" });
    expect(await Post.estimatedDocumentCount()).toBe(1);
  });

  test("50 concurrent findOneAndUpdate upserts make exactly one document", async () => {
    const Counter = connection.model(
      "MgCounter",
      new mongoose.Schema({ key: { type: String, unique: true }, hits: Number }),
    );
    await Counter.init();
    const bump = () =>
      Counter.findOneAndUpdate(
        { key: "page" },
        { $inc: { hits: 1 } },
        { upsert: true, returnDocument: "after" },
      );
    // Against a real mongod concurrent upserts can race into E11000; retrying once is the documented remedy.
    await Promise.all(
      Array.from({ length: 50 }, () =>
        bump().catch((error) => {
          if (error?.code === 11000) return bump();
          throw error;
        }),
      ),
    );
    expect(await Counter.countDocuments({ key: "page" })).toBe(1);
    expect((await Counter.findOne({ key: "page" }).lean())?.hits).toBe(50);
  });
});

describe("commands and errors", () => {
  test("unknown commands fail with CommandNotFound", async () => {
    const error = await serverError(db.command({ definitelyNotACommand: 1 }));
    expect(error.code).toBe(59);
    expect(error.codeName).toBe("CommandNotFound");
  });

  test("transactions are rejected on a standalone server", async () => {
    const hello = await db.admin().command({ hello: 1 });
    if (hello.setName || hello.msg === "isdbgrid") return; // a replica set or mongos supports them
    const raw = await serverError(
      db.command({
        find: "txn",
        filter: {},
        lsid: { id: new Binary(Buffer.alloc(16, 1), 4) },
        txnNumber: Long.fromNumber(1),
        startTransaction: true,
        autocommit: false,
      }),
    );
    expect(raw.code).toBe(20);
    const session = client.startSession();
    try {
      const attempt = session.withTransaction(async () => {
        await db.collection("txn").insertOne({ a: 1 }, { session });
      });
      await expect(attempt).rejects.toBeDefined();
    } finally {
      await session.endSession();
    }
  });

  test("collections and databases can be listed, created and dropped", async () => {
    await db.createCollection("cat_created");
    await db.collection("cat_other").insertOne({ a: 1 });
    const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(["cat_created", "cat_other"]));
    expect((await db.listCollections({ name: "cat_other" }).toArray()).map((c) => c.name)).toEqual([
      "cat_other",
    ]);
    const databases = await db.admin().listDatabases();
    expect(databases.databases.map((d) => d.name)).toContain(mongo.dbName);
    expect(await db.collection("cat_other").drop()).toBe(true);
    expect((await db.listCollections({ name: "cat_other" }).toArray()).length).toBe(0);
    const missing = await serverError(db.collection("cat_missing").listIndexes().toArray());
    expect(missing.code).toBe(26);
    expect((await db.command({ ping: 1 })).ok).toBe(1);
    expect((await db.admin().command({ buildInfo: 1 })).version).toMatch(/^\d+\.\d+/);
  });
});

describe.skipIf(usingExternalMongo)("embedded store internals", () => {
  const tempDirs: string[] = [];
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "embedded-store-"));
    tempDirs.push(dir);
    return dir;
  };

  afterAll(() => {
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function withClient<T>(
    store: EmbeddedStore,
    run: (database: Db) => Promise<T>,
  ): Promise<T> {
    const local = new MongoClient(store.uri, { serverSelectionTimeoutMS: 5000 });
    await local.connect();
    try {
      return await run(local.db("persist"));
    } finally {
      await local.close();
    }
  }

  test("hello advertises a standalone 7.0 without compression", async () => {
    const hello = await db.admin().command({ hello: 1 });
    expect(hello).toMatchObject({
      isWritablePrimary: true,
      maxBsonObjectSize: 16777216,
      maxMessageSizeBytes: 48000000,
      maxWriteBatchSize: 100000,
      logicalSessionTimeoutMinutes: 30,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
    });
    expect(hello.compression).toBeUndefined();
    expect(hello.setName).toBeUndefined();
  });

  test("unacknowledged (w: 0) writes are applied without a reply", async () => {
    const fireAndForget = db.collection("w0");
    await fireAndForget.insertOne({ n: 1 }, { writeConcern: { w: 0 } });
    await fireAndForget.insertMany([{ n: 2 }, { n: 3 }], { writeConcern: { w: 0 } });
    const deadline = Date.now() + 2000;
    while ((await fireAndForget.countDocuments()) < 3 && Date.now() < deadline) await Bun.sleep(10);
    expect(await fireAndForget.countDocuments()).toBe(3);
    expect((await db.command({ ping: 1 })).ok).toBe(1);
  });

  test("data, indexes and types survive a restart", async () => {
    const dir = tempDir();
    const id = new ObjectId();
    let store = await startEmbeddedStore({ dir });
    await withClient(store, async (database) => {
      const things = database.collection<ThingDoc>("things");
      await things.createIndex({ sku: 1 }, { unique: true });
      await things.insertMany([
        {
          _id: id,
          sku: "a",
          price: Decimal128.fromString("9.99"),
          qty: new Double(3),
          at: new Date(5),
        },
        { sku: "b", gone: true },
      ]);
      await things.updateOne({ sku: "a" }, { $push: { log: "updated" } });
      await things.deleteOne({ sku: "b" });
    });
    await store.stop();

    store = await startEmbeddedStore({ dir });
    // The directory is locked while a store has it open.
    await expect(startEmbeddedStore({ dir })).rejects.toThrow(/in use/);
    await withClient(store, async (database) => {
      const things = database.collection("things");
      const doc = await things.findOne({ _id: id }, { promoteValues: false });
      expect(doc?.sku).toBe("a");
      expect(doc?.qty).toBeInstanceOf(Double);
      expect(String(doc?.price)).toBe("9.99");
      expect(doc?.log).toEqual(["updated"]);
      expect(await things.countDocuments()).toBe(1);
      expect((await serverError(things.insertOne({ sku: "a" }))).code).toBe(11000);
    });
    await store.stop();
  });

  test("a torn tail in the journal is dropped and acknowledged writes are kept", async () => {
    const dir = tempDir();
    let store = await startEmbeddedStore({ dir });
    await withClient(store, async (database) => {
      await database.collection("log").insertMany(Array.from({ length: 20 }, (_, n) => ({ n })));
    });
    await store.stop();

    const journal = path.join(dir, "journal.bson");
    // A record header promising 200 bytes followed by only a few: a write cut short by a crash.
    const torn = Buffer.alloc(14);
    torn.writeUInt32LE(200, 0);
    torn.writeUInt32LE(12345, 4);
    fs.appendFileSync(journal, torn);

    store = await startEmbeddedStore({ dir });
    await withClient(store, async (database) => {
      expect(await database.collection("log").countDocuments()).toBe(20);
      await database.collection("log").insertOne({ n: 20 });
    });
    await store.stop();

    // Garbage that merely fails its checksum is handled the same way.
    fs.appendFileSync(journal, Buffer.from("0c000000deadbeefgarbagebytes!", "utf8"));
    store = await startEmbeddedStore({ dir });
    await withClient(store, async (database) => {
      expect(await database.collection("log").countDocuments()).toBe(21);
    });
    await store.stop();
  });

  function opMsg(requestId: number, command: Record<string, unknown>, flags = 0): Buffer {
    const body = serialize(command);
    const message = Buffer.alloc(16 + 4 + 1 + body.length);
    message.writeInt32LE(message.length, 0);
    message.writeInt32LE(requestId, 4);
    message.writeInt32LE(0, 8);
    message.writeInt32LE(2013, 12);
    message.writeUInt32LE(flags, 16);
    message.writeUInt8(0, 20);
    Buffer.from(body).copy(message, 21);
    return message;
  }

  interface RawReply {
    requestId: number;
    responseTo: number;
    flags: number;
    body: Record<string, unknown>;
  }

  interface RawConnection {
    write(bytes: Uint8Array): void;
    replies(count: number, waitMs?: number): Promise<RawReply[]>;
    closed: Promise<void>;
    end(): void;
  }

  async function rawConnection(port: number): Promise<RawConnection> {
    let buffered = Buffer.alloc(0);
    let notify: () => void = () => {};
    let markClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_socket, chunk) {
          buffered = Buffer.concat([buffered, chunk]);
          notify();
        },
        close() {
          markClosed();
        },
        end() {
          markClosed();
        },
      },
    });
    const parse = () => {
      const frames: RawReply[] = [];
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        const frame = buffered.subarray(0, length);
        frames.push({
          requestId: frame.readInt32LE(4),
          responseTo: frame.readInt32LE(8),
          flags: frame.readUInt32LE(16),
          body: deserialize(frame.subarray(21)),
        });
        buffered = buffered.subarray(length);
      }
      return frames;
    };
    const received: RawReply[] = [];
    return {
      write: (bytes) => {
        socket.write(bytes);
        socket.flush();
      },
      async replies(count, waitMs = 3000) {
        const deadline = Date.now() + waitMs;
        while (received.length < count && Date.now() < deadline) {
          received.push(...parse());
          if (received.length >= count) break;
          await new Promise<void>((resolve) => {
            notify = resolve;
            setTimeout(resolve, 50);
          });
        }
        return received.splice(0, count);
      },
      closed,
      end: () => socket.end(),
    };
  }

  test("frames split across writes and coalesced into one write are all answered", async () => {
    const connection = await rawConnection(Number(new URL(mongo.uri).port));
    const first = opMsg(1, { ping: 1, $db: "admin" });
    connection.write(first.subarray(0, 7));
    await Bun.sleep(20);
    connection.write(first.subarray(7));
    const [split] = await connection.replies(1);
    expect(split?.responseTo).toBe(1);
    expect(split?.body.ok).toBe(1);

    connection.write(
      Buffer.concat([
        opMsg(2, { ping: 1, $db: "admin" }),
        opMsg(3, { buildInfo: 1, $db: "admin" }),
      ]),
    );
    const pair = await connection.replies(2);
    expect(pair.map((reply) => reply.responseTo)).toEqual([2, 3]);
    expect(pair[1]?.body.version).toBe("7.0.0");
    connection.end();
  });

  test("garbage closes only the offending connection", async () => {
    const port = Number(new URL(mongo.uri).port);
    const badLength = await rawConnection(port);
    badLength.write(Buffer.from([5, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
    await badLength.closed;

    const badBson = await rawConnection(port);
    const message = opMsg(9, { ping: 1, $db: "admin" });
    message.writeInt32LE(9999, 21); // BSON length inconsistent with the frame
    badBson.write(message);
    await badBson.closed;

    const badOpcode = await rawConnection(port);
    const unknown = opMsg(10, { ping: 1, $db: "admin" });
    unknown.writeInt32LE(4242, 12);
    badOpcode.write(unknown);
    await badOpcode.closed;

    expect((await db.command({ ping: 1 })).ok).toBe(1);
    const healthy = await rawConnection(port);
    healthy.write(opMsg(11, { ping: 1, $db: "admin" }));
    expect((await healthy.replies(1))[0]?.body.ok).toBe(1);
    healthy.end();
  });

  // Server monitoring spec, "Awaitable hello": what lets a driver find a restarted server again.
  describe("awaitable hello", () => {
    const MORE_TO_COME = 1 << 1;
    const EXHAUST_ALLOWED = 1 << 16;

    async function topologyVersion(): Promise<{ processId: ObjectId; counter: number }> {
      const connection = await rawConnection(Number(new URL(mongo.uri).port));
      connection.write(opMsg(1, { hello: 1, $db: "admin" }));
      const [reply] = await connection.replies(1);
      connection.end();
      return reply?.body.topologyVersion as { processId: ObjectId; counter: number };
    }

    test("hello carries a topologyVersion: this process's id and a counter of 0", async () => {
      const version = await topologyVersion();
      expect(version.processId._bsontype).toBe("ObjectId");
      expect(version.counter).toBe(0);
      expect(String((await topologyVersion()).processId)).toBe(String(version.processId));

      const restarted = await startEmbeddedStore({ port: 0 });
      const local = new MongoClient(restarted.uri, { serverSelectionTimeoutMS: 5000 });
      try {
        const hello = await local.db("admin").command({ hello: 1 });
        expect(String(hello.topologyVersion.processId)).not.toBe(String(version.processId));
      } finally {
        await local.close();
        await restarted.stop();
      }
    });

    test("with the server's own topologyVersion it waits maxAwaitTimeMS; with another it answers at once", async () => {
      const version = await topologyVersion();
      const connection = await rawConnection(Number(new URL(mongo.uri).port));
      const started = Date.now();
      connection.write(
        opMsg(2, { hello: 1, topologyVersion: version, maxAwaitTimeMS: 300, $db: "admin" }),
      );
      const [awaited] = await connection.replies(1);
      expect(awaited?.responseTo).toBe(2);
      expect(awaited?.body.ok).toBe(1);
      expect(awaited?.flags).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);

      const elsewhere = { processId: new ObjectId(), counter: Long.fromNumber(0) };
      const asked = Date.now();
      connection.write(
        opMsg(3, { hello: 1, topologyVersion: elsewhere, maxAwaitTimeMS: 5000, $db: "admin" }),
      );
      const [immediate] = await connection.replies(1);
      expect(immediate?.responseTo).toBe(3);
      expect(Date.now() - asked).toBeLessThan(1000);
      connection.end();
    });

    test("exhaustAllowed streams replies with moreToCome, each answering the previous one", async () => {
      const version = await topologyVersion();
      const connection = await rawConnection(Number(new URL(mongo.uri).port));
      connection.write(
        opMsg(
          7,
          { hello: 1, topologyVersion: version, maxAwaitTimeMS: 100, $db: "admin" },
          EXHAUST_ALLOWED,
        ),
      );
      const replies = await connection.replies(3);
      expect(replies).toHaveLength(3);
      expect(replies.map((reply) => reply.body.ok)).toEqual([1, 1, 1]);
      expect(replies.every((reply) => (reply.flags & MORE_TO_COME) !== 0)).toBe(true);
      // The first answers the request; each later one answers the reply before it.
      const answered = [7, ...replies.slice(0, 2).map((reply) => reply.requestId)];
      expect(replies.map((reply) => reply.responseTo)).toEqual(answered);
      connection.end();
      await connection.closed;
      expect((await db.command({ ping: 1 })).ok).toBe(1);
    });

    test("topologyVersion without maxAwaitTimeMS, or the reverse, fails as on mongod", async () => {
      const version = await topologyVersion();
      const missingWait = await serverError(
        db.admin().command({ hello: 1, topologyVersion: version }),
      );
      expect(missingWait.code).toBe(31368);
      expect(missingWait.codeName).toBe("Location31368");
      const missingVersion = await serverError(
        db.admin().command({ hello: 1, maxAwaitTimeMS: 100 }),
      );
      expect(missingVersion.code).toBe(31368);
      const negative = await serverError(
        db.admin().command({ hello: 1, topologyVersion: version, maxAwaitTimeMS: -1 }),
      );
      expect(negative.code).toBe(31373);
    });

    test("the driver monitors the store with streaming hello", async () => {
      const store = await startEmbeddedStore({ port: 0 });
      const local = new MongoClient(store.uri, {
        serverSelectionTimeoutMS: 5000,
        heartbeatFrequencyMS: 500,
      });
      let streamed = 0;
      local.on("serverHeartbeatStarted", (event) => {
        if (event.awaited) streamed++;
      });
      try {
        await local.connect();
        const deadline = Date.now() + 5000;
        while (streamed < 3 && Date.now() < deadline) await Bun.sleep(50);
        expect(streamed).toBeGreaterThanOrEqual(3);
      } finally {
        await local.close();
        await store.stop();
      }
    });

    test("stopping the store ends a hello that is still waiting", async () => {
      const store = await startEmbeddedStore({ port: 0 });
      const connection = await rawConnection(store.port);
      connection.write(opMsg(1, { hello: 1, $db: "admin" }));
      const [first] = await connection.replies(1);
      connection.write(
        opMsg(
          2,
          {
            hello: 1,
            topologyVersion: first?.body.topologyVersion,
            maxAwaitTimeMS: 30_000,
            $db: "admin",
          },
          EXHAUST_ALLOWED,
        ),
      );
      await Bun.sleep(50);
      const stopping = Date.now();
      await store.stop();
      await connection.closed;
      expect(Date.now() - stopping).toBeLessThan(1000);
    });
  });
});
