/**
 * Find-only projection operators ($slice, $elemMatch, positional `$`) and the command options
 * the embedded store either supports as MongoDB 7.0 does (`let`, the 16 MiB document limit,
 * `sort` refused in update statements) or refuses loudly instead of ignoring (collations,
 * views, validators, collMod, $jsonSchema). Runs unchanged against a real server with
 * MONGODB_URI set: there the refused features are checked to work as MongoDB documents them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Db, type Document, Double, Int32, Long, MongoClient } from "mongodb";
import mongoose from "mongoose";
import { serverError, type TestMongo, testMongo } from "./support/mongo.ts";

let mongo: TestMongo;
let client: MongoClient;
let db: Db;
let serverMajor = 7;

beforeAll(async () => {
  mongo = await testMongo();
  client = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  db = client.db(mongo.dbName);
  const info = await db.admin().command({ buildInfo: 1 });
  serverMajor = Number(info.versionArray?.[0] ?? 7);
});

afterAll(async () => {
  await client?.close();
  await mongo?.stop();
});

/** Test documents use plain `_id` values and free-form fields. */
type Loose = { _id?: number | string; [field: string]: unknown };
const coll = (name: string) => db.collection<Loose>(name);

/** What the embedded store answers for a MongoDB feature it does not implement. */
const NOT_IMPLEMENTED = 238;
const COMMAND_NOT_SUPPORTED = 115;

/**
 * Runs `operation`: a real MongoDB supports it (`onMongo` checks its effect there), the embedded
 * store must refuse it with `code` and a message naming what it does not support.
 */
async function refusedByStore(
  operation: () => Promise<unknown>,
  code: number,
  phrase: string,
  onMongo?: (result: unknown) => void | Promise<void>,
): Promise<void> {
  if (mongo.external) {
    const result = await operation();
    await onMongo?.(result);
    return;
  }
  const error = await serverError(operation());
  expect(error.code).toBe(code);
  expect(error.message).toContain(phrase);
  expect(error.message).toContain("embedded store");
}

describe("$slice projection", () => {
  const post = {
    _id: 1,
    title: "t",
    secret: "s",
    comments: ["c1", "c2", "c3", "c4"],
    meta: { log: [1, 2, 3, 4, 5], by: "m" },
    threads: [{ n: 1, replies: [1, 2, 3] }, { n: 2, replies: [4, 5] }, "loose"],
  };

  beforeAll(async () => {
    await coll("slice_posts").insertOne({ ...post });
  });

  const projected = (projection: Document) =>
    coll("slice_posts").findOne({ _id: 1 }, { projection });

  test("$slice alone keeps the whole document", async () => {
    expect<unknown>(await projected({ comments: { $slice: 2 } })).toEqual({
      ...post,
      comments: ["c1", "c2"],
    });
    expect<unknown>(await projected({ comments: { $slice: -1 } })).toEqual({
      ...post,
      comments: ["c4"],
    });
    expect<unknown>(await projected({ comments: { $slice: 10 } })).toEqual(post);
    // A non-array field is left as it is.
    expect<unknown>(await projected({ title: { $slice: 1 } })).toEqual(post);
  });

  test("$slice with an exclusion returns everything else", async () => {
    const { secret: _, ...rest } = post;
    expect<unknown>(await projected({ comments: { $slice: -1 }, secret: 0 })).toEqual({
      ...rest,
      comments: ["c4"],
    });
    const { _id: __, ...withoutId } = post;
    expect<unknown>(await projected({ _id: 0, comments: { $slice: 1 } })).toEqual({
      ...withoutId,
      comments: ["c1"],
    });
  });

  test("[skip, limit]", async () => {
    expect((await projected({ comments: { $slice: [1, 2] } }))?.comments).toEqual(["c2", "c3"]);
    expect((await projected({ comments: { $slice: [-3, 2] } }))?.comments).toEqual(["c2", "c3"]);
    expect((await projected({ comments: { $slice: [-10, 2] } }))?.comments).toEqual(["c1", "c2"]);
    expect((await projected({ comments: { $slice: [10, 2] } }))?.comments).toEqual([]);
  });

  test("$slice with an inclusion", async () => {
    expect<unknown>(await projected({ title: 1, comments: { $slice: 1 } })).toEqual({
      _id: 1,
      title: "t",
      comments: ["c1"],
    });
    expect<unknown>(await projected({ _id: 0, title: 1, comments: { $slice: -2 } })).toEqual({
      title: "t",
      comments: ["c3", "c4"],
    });
    // {_id: 1} makes a projection with $slice an inclusion.
    expect<unknown>(await projected({ _id: 1, comments: { $slice: 1 } })).toEqual({
      _id: 1,
      comments: ["c1"],
    });
    expect<unknown>(await projected({ title: 1, "meta.log": { $slice: 1 } })).toEqual({
      _id: 1,
      title: "t",
      meta: { log: [1] },
    });
  });

  test("nested paths, through arrays of documents", async () => {
    expect<unknown>(await projected({ "meta.log": { $slice: -2 } })).toEqual({
      ...post,
      meta: { log: [4, 5], by: "m" },
    });
    expect<unknown>(await projected({ "threads.replies": { $slice: 1 } })).toEqual({
      ...post,
      threads: [{ n: 1, replies: [1] }, { n: 2, replies: [4] }, "loose"],
    });
    expect<unknown>(await projected({ meta: { log: { $slice: 2 } } })).toEqual({
      ...post,
      meta: { log: [1, 2], by: "m" },
    });
  });

  test("the stored document is not changed by a projection", async () => {
    await projected({ comments: { $slice: 1 }, "meta.log": { $slice: 1 } });
    expect<unknown>(await coll("slice_posts").findOne({ _id: 1 })).toEqual(post);
  });

  test("through findOneAndUpdate's projection", async () => {
    const threads = coll("slice_fam");
    await threads.insertOne({ _id: 1, title: "t", secret: "s", comments: ["a", "b"] });
    const after = await threads.findOneAndUpdate(
      { _id: 1 },
      { $push: { comments: "c" } as never },
      { returnDocument: "after", projection: { comments: { $slice: -2 } } },
    );
    expect<unknown>(after).toEqual({ _id: 1, title: "t", secret: "s", comments: ["b", "c"] });
    const before = await threads.findOneAndUpdate(
      { _id: 1 },
      { $push: { comments: "d" } as never },
      { returnDocument: "before", projection: { comments: { $slice: 1 }, secret: 0 } },
    );
    expect<unknown>(before).toEqual({ _id: 1, title: "t", comments: ["a"] });
  });

  test("through Mongoose's select() and slice()", async () => {
    const connection = await mongoose
      .createConnection(mongo.uri, { dbName: mongo.dbName })
      .asPromise();
    try {
      const Post = connection.model(
        "SlicePost",
        new mongoose.Schema({ title: String, secret: String, comments: [String] }),
      );
      const { _id } = await Post.create({
        title: "t",
        secret: "s",
        comments: ["c1", "c2", "c3"],
      });
      const sliced = await Post.findById(_id).slice("comments", 2).lean();
      expect(sliced).toMatchObject({ _id, title: "t", secret: "s", comments: ["c1", "c2"] });
      const last = await Post.findById(_id)
        .select({ comments: { $slice: -1 }, secret: 0 })
        .lean();
      expect(last?.comments).toEqual(["c3"]);
      expect(last?.title).toBe("t");
      expect<unknown>(last).not.toHaveProperty("secret");
      const picked = await Post.findById(_id).select("title").slice("comments", [1, 1]).lean();
      expect<unknown>(picked).toEqual({ _id, title: "t", comments: ["c2"] });
    } finally {
      await connection.close();
    }
  });
});

describe("BSON number types under find-only projections", () => {
  test("sliced and matched elements keep their Double/Int32/Int64 type", async () => {
    const typed = coll("typed_slices");
    await typed.insertOne({
      _id: 1,
      vals: [new Double(1), new Int32(2), new Double(3), Long.fromNumber(4)],
      nested: { vals: [new Double(5), new Int32(6)] },
    });
    const types = (values: unknown) =>
      (values as Array<{ _bsontype?: string }>).map((value) => value._bsontype);
    const sliced = await typed.findOne(
      { _id: 1 },
      {
        projection: { vals: { $slice: [2, 2] }, "nested.vals": { $slice: 1 } },
        promoteValues: false,
      },
    );
    expect(types(sliced?.vals)).toEqual(["Double", "Long"]);
    expect(types((sliced?.nested as Document | undefined)?.vals)).toEqual(["Double"]);
    const last = await typed.findOne(
      { _id: 1 },
      { projection: { vals: { $slice: -3 } }, promoteValues: false },
    );
    expect(types(last?.vals)).toEqual(["Int32", "Double", "Long"]);
    const matched = await typed.findOne(
      { _id: 1 },
      { projection: { vals: { $elemMatch: { $gte: 3 } } }, promoteValues: false },
    );
    expect(types(matched?.vals)).toEqual(["Double"]);
  });
});

describe("$elemMatch and positional projections", () => {
  const doc = {
    _id: 1,
    title: "t",
    secret: "s",
    tags: ["x", "b", "a"],
    scores: [3, 7, 9],
    grades: [
      { k: "a", v: 80 },
      { k: "b", v: 95 },
    ],
    note: { a: 1 },
  };

  beforeAll(async () => {
    await coll("em_docs").insertMany([{ ...doc }, { _id: 2, tags: ["q"], scores: [6] }]);
  });

  const projected = (projection: Document, id = 1) =>
    coll("em_docs").findOne({ _id: id }, { projection });

  test("an operator-only condition on an array of plain values", async () => {
    expect<unknown>(await projected({ tags: { $elemMatch: { $in: ["a", "b"] } } })).toEqual({
      _id: 1,
      tags: ["b"],
    });
    expect<unknown>(await projected({ scores: { $elemMatch: { $gt: 5 } } })).toEqual({
      _id: 1,
      scores: [7],
    });
    expect<unknown>(await projected({ scores: { $elemMatch: { $gt: 5, $lt: 8 } } })).toEqual({
      _id: 1,
      scores: [7],
    });
    // Nothing matches, or not an array: the field is left out.
    expect<unknown>(await projected({ scores: { $elemMatch: { $gt: 100 } } })).toEqual({ _id: 1 });
    expect<unknown>(await projected({ note: { $elemMatch: { $gt: 2 } } })).toEqual({ _id: 1 });
  });

  test("with other fields, an exclusion, or documents in the array", async () => {
    expect<unknown>(
      await projected({ _id: 0, title: 1, scores: { $elemMatch: { $gte: 9 } } }),
    ).toEqual({
      title: "t",
      scores: [9],
    });
    const { secret: _, ...rest } = doc;
    expect<unknown>(await projected({ secret: 0, scores: { $elemMatch: { $gt: 5 } } })).toEqual({
      ...rest,
      scores: [7],
    });
    expect<unknown>(await projected({ grades: { $elemMatch: { v: { $gt: 90 } } } })).toEqual({
      _id: 1,
      grades: [{ k: "b", v: 95 }],
    });
    const all = await db
      .collection("em_docs")
      .find({}, { projection: { scores: { $elemMatch: { $gt: 5 } } } })
      .sort({ _id: 1 })
      .toArray();
    expect<unknown>(all).toEqual([
      { _id: 1, scores: [7] },
      { _id: 2, scores: [6] },
    ]);
  });

  test("$elemMatch on a nested field is refused", async () => {
    const error = await serverError(projected({ "note.a": { $elemMatch: { $gt: 0 } } }));
    expect(error.code).toBe(31275);
    expect(error.message).toContain("Cannot use $elemMatch projection on a nested field");
  });

  test("the positional $ projection", async () => {
    const students = coll("em_students");
    await students.insertMany([
      { _id: 1, semester: 1, grades: [70, 87, 90] },
      { _id: 2, semester: 1, grades: [90, 88, 92] },
      { _id: 3, semester: 1, grades: [85, 100, 90] },
      { _id: 4, semester: 2, grades: [79, 85, 80] },
      {
        _id: 7,
        semester: 3,
        grades: [
          { grade: 80, mean: 75 },
          { grade: 85, mean: 90 },
        ],
      },
    ]);
    const firsts = await students
      .find({ semester: 1, grades: { $gte: 85 } }, { projection: { "grades.$": 1 } })
      .sort({ _id: 1 })
      .toArray();
    expect<unknown>(firsts).toEqual([
      { _id: 1, grades: [87] },
      { _id: 2, grades: [90] },
      { _id: 3, grades: [85] },
    ]);
    const nested = await students.findOne(
      { "grades.mean": { $gt: 80 } },
      { projection: { _id: 0, semester: 1, "grades.$": 1 } },
    );
    expect<unknown>(nested).toEqual({ semester: 3, grades: [{ grade: 85, mean: 90 }] });
  });
});

describe("command-level let", () => {
  beforeAll(async () => {
    await coll("let_docs").insertMany([
      { _id: 1, name: "a", n: 1 },
      { _id: 2, name: "b", n: 2 },
      { _id: 3, name: "c", n: 3 },
    ]);
  });

  test("find: variables in $expr and in the projection", async () => {
    const found = await db
      .collection("let_docs")
      .find(
        { $expr: { $gte: ["$n", "$$min"] } },
        { let: { min: { $add: [1, 1] }, hello: "hi" }, projection: { _id: 1, greet: "$$hello" } },
      )
      .sort({ _id: 1 })
      .toArray();
    expect<unknown>(found).toEqual([
      { _id: 2, greet: "hi" },
      { _id: 3, greet: "hi" },
    ]);
  });

  test("aggregate", async () => {
    const rows = await db
      .collection("let_docs")
      .aggregate(
        [
          { $match: { $expr: { $gt: ["$n", "$$min"] } } },
          { $project: { _id: 0, n: 1, scaled: { $multiply: ["$n", "$$factor"] } } },
          { $sort: { n: 1 } },
        ],
        { let: { min: 1, factor: 10 } },
      )
      .toArray();
    expect(rows).toEqual([
      { n: 2, scaled: 20 },
      { n: 3, scaled: 30 },
    ]);
  });

  test("update, with a pipeline and with operators", async () => {
    const items = coll("let_updates");
    await items.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3, n: 5 }]);
    const piped = await items.updateOne(
      { $expr: { $eq: ["$_id", "$$id"] } },
      [{ $set: { x: "$$x", y: "$$y" } }],
      { let: { id: 1, x: "foo", y: { $literal: "bar" } } },
    );
    expect(piped.modifiedCount).toBe(1);
    expect<unknown>(await items.findOne({ _id: 1 })).toEqual({ _id: 1, x: "foo", y: "bar" });
    const many = await items.updateMany(
      { $expr: { $gte: ["$_id", "$$from"] } },
      { $set: { seen: true } },
      { let: { from: 2 } },
    );
    expect(many.modifiedCount).toBe(2);
    const upserted = await items.updateOne({ _id: 9 }, [{ $set: { made: "$$what" } }], {
      upsert: true,
      let: { what: "by upsert" },
    });
    expect(upserted.upsertedCount).toBe(1);
    expect<unknown>(await items.findOne({ _id: 9 })).toEqual({ _id: 9, made: "by upsert" });
  });

  test("delete", async () => {
    const items = coll("let_deletes");
    await items.insertMany([{ _id: 1 }, { _id: 2 }, { _id: 3 }]);
    const one = await items.deleteOne({ $expr: { $eq: ["$_id", "$$id"] } }, { let: { id: 2 } });
    expect(one.deletedCount).toBe(1);
    const many = await items.deleteMany(
      { $expr: { $lt: ["$_id", "$$below"] } },
      { let: { below: 3 } },
    );
    expect(many.deletedCount).toBe(1);
    expect<unknown>(await items.find().toArray()).toEqual([{ _id: 3 }]);
  });

  test("findAndModify", async () => {
    const items = coll("let_fam");
    await items.insertMany([{ _id: 1 }, { _id: 2 }]);
    const updated = await items.findOneAndUpdate(
      { $expr: { $eq: ["$_id", "$$id"] } },
      [{ $set: { x: "$$x" } }],
      { let: { id: 2, x: "y" }, returnDocument: "after" },
    );
    expect<unknown>(updated).toEqual({ _id: 2, x: "y" });
    const removed = await items.findOneAndDelete(
      { $expr: { $eq: ["$_id", "$$id"] } },
      { let: { id: 1 } },
    );
    expect<unknown>(removed).toEqual({ _id: 1 });
  });

  test("variable names are checked as MongoDB does", async () => {
    const error = await serverError(
      db
        .collection("let_docs")
        .find({ $expr: { $eq: ["$n", "$$Bad"] } }, { let: { Bad: 1 } })
        .toArray(),
    );
    expect(error.code).toBe(16867);
    expect(error.message).toContain("starts with an invalid character for a user variable name");
    // let values are evaluated before any document is read.
    const reads = await serverError(
      coll("let_docs")
        .find({ $expr: { $eq: ["$n", "$$v"] } }, { let: { v: "$n" } })
        .toArray(),
    );
    expect(reads.code).toBe(4890500);
  });
});

describe("collations", () => {
  beforeAll(async () => {
    await coll("coll_docs").insertMany([
      { _id: 1, name: "Ann" },
      { _id: 2, name: "ann" },
      { _id: 3, name: "Bob" },
    ]);
  });

  const caseInsensitive = { locale: "en", strength: 2 };
  const docs = () => coll("coll_docs");

  test("the simple collation (the default) keeps working", async () => {
    const found = await docs()
      .find({ name: "ann" }, { collation: { locale: "simple" } })
      .toArray();
    expect<unknown>(found).toEqual([{ _id: 2, name: "ann" }]);
    const counted = await docs().countDocuments(
      { name: "Ann" },
      { collation: { locale: "simple" } },
    );
    expect(counted).toBe(1);
  });

  test("find, count, distinct and aggregate with a collation", async () => {
    await refusedByStore(
      () => docs().find({ name: "ann" }, { collation: caseInsensitive }).toArray(),
      NOT_IMPLEMENTED,
      "ollation",
      (found) => expect(found as unknown[]).toHaveLength(2),
    );
    await refusedByStore(
      () => docs().countDocuments({ name: "ann" }, { collation: caseInsensitive }),
      NOT_IMPLEMENTED,
      "ollation",
      (n) => expect(n).toBe(2),
    );
    await refusedByStore(
      () => docs().distinct("name", {}, { collation: caseInsensitive }),
      NOT_IMPLEMENTED,
      "ollation",
      (names) => expect(names as unknown[]).toHaveLength(2),
    );
    await refusedByStore(
      () =>
        docs()
          .aggregate([{ $match: { name: "ann" } }], { collation: caseInsensitive })
          .toArray(),
      NOT_IMPLEMENTED,
      "ollation",
      (rows) => expect(rows as unknown[]).toHaveLength(2),
    );
  });

  test("update, delete and findAndModify with a collation change nothing", async () => {
    const target = coll("coll_writes");
    await target.insertMany([
      { _id: 1, name: "Ann" },
      { _id: 2, name: "ann" },
    ]);
    await refusedByStore(
      () =>
        target.updateMany({ name: "ann" }, { $set: { hit: true } }, { collation: caseInsensitive }),
      NOT_IMPLEMENTED,
      "ollation",
      (result) => expect((result as { modifiedCount: number }).modifiedCount).toBe(2),
    );
    await refusedByStore(
      () =>
        target.findOneAndUpdate(
          { name: "ANN" },
          { $set: { famHit: true } },
          { collation: caseInsensitive },
        ),
      NOT_IMPLEMENTED,
      "ollation",
    );
    await refusedByStore(
      () => target.deleteMany({ name: "ANN" }, { collation: caseInsensitive }),
      NOT_IMPLEMENTED,
      "ollation",
      (result) => expect((result as { deletedCount: number }).deletedCount).toBe(2),
    );
    if (!mongo.external) {
      expect<unknown>(await target.find().sort({ _id: 1 }).toArray()).toEqual([
        { _id: 1, name: "Ann" },
        { _id: 2, name: "ann" },
      ]);
    }
  });

  test("indexes and collections with a collation are not created", async () => {
    await refusedByStore(
      () => coll("coll_indexed").createIndex({ name: 1 }, { collation: caseInsensitive }),
      NOT_IMPLEMENTED,
      "ollation",
    );
    await refusedByStore(
      () => db.createCollection("coll_created", { collation: caseInsensitive }),
      NOT_IMPLEMENTED,
      "ollation",
    );
    if (!mongo.external) {
      const names = (await db.listCollections().toArray()).map((c) => c.name);
      expect(names).not.toContain("coll_indexed");
      expect(names).not.toContain("coll_created");
    }
  });
});

describe("views, validators and collMod", () => {
  test("create with viewOn/pipeline (a view)", async () => {
    await coll("view_source").insertOne({ _id: 1, n: 1 });
    await refusedByStore(
      () =>
        db.createCollection("view_of_source", {
          viewOn: "view_source",
          pipeline: [{ $match: { n: 1 } }],
        }),
      NOT_IMPLEMENTED,
      "views",
      async () => {
        expect<unknown>(await coll("view_of_source").countDocuments()).toBe(1);
      },
    );
    if (!mongo.external) {
      const names = (await db.listCollections().toArray()).map((c) => c.name);
      expect(names).not.toContain("view_of_source");
    }
  });

  test("create with a validator", async () => {
    await refusedByStore(
      () =>
        db.createCollection("validated", {
          validator: { $jsonSchema: { bsonType: "object", required: ["name"] } },
        }),
      NOT_IMPLEMENTED,
      "validat",
      async () => {
        const error = await serverError(coll("validated").insertOne({ other: 1 }));
        expect(error.code).toBe(121);
      },
    );
    await refusedByStore(
      () => db.createCollection("validated_query", { validator: { n: { $gte: 0 } } }),
      NOT_IMPLEMENTED,
      "validat",
    );
    // An empty validator is the default: no validation.
    await db.createCollection("validated_empty", { validator: {} });
  });

  test("collMod", async () => {
    await coll("modded").insertOne({ name: "x" });
    await refusedByStore(
      () =>
        db.command({
          collMod: "modded",
          validator: { $jsonSchema: { bsonType: "object", required: ["name"] } },
        }),
      COMMAND_NOT_SUPPORTED,
      "collMod",
    );
  });

  test("$jsonSchema in a query", async () => {
    const people = coll("schema_people");
    await people.insertMany([{ name: "a" }, { other: 1 }]);
    await refusedByStore(
      () => people.find({ $jsonSchema: { required: ["name"] } }).toArray(),
      NOT_IMPLEMENTED,
      "$jsonSchema",
      (found) => expect(found as unknown[]).toHaveLength(1),
    );
  });
});

describe("the 16 MiB document limit", () => {
  const MAX = 16 * 1024 * 1024;

  test("an insert over 16 MiB is refused, one under is stored", async () => {
    const big = coll("limit_insert");
    const error = await serverError(big.insertOne({ _id: 1, blob: "x".repeat(MAX) }));
    expect(error.code).toBe(2);
    expect(error.message).toContain("object to insert too large");
    expect<unknown>(await big.countDocuments()).toBe(0);
    await big.insertOne({ _id: 2, blob: "x".repeat(MAX - 100) });
    expect<unknown>(await big.countDocuments()).toBe(1);
  });

  test("each document of an insert is checked on its own", async () => {
    const reply = await db.command({
      insert: "limit_batch",
      documents: [{ _id: 1 }, { _id: 2, blob: "x".repeat(MAX) }, { _id: 3 }],
      ordered: false,
    });
    expect(reply.n).toBe(2);
    expect(reply.writeErrors).toHaveLength(1);
    expect(reply.writeErrors[0].index).toBe(1);
    expect(reply.writeErrors[0].code).toBe(2);
    expect<unknown>(await coll("limit_batch").countDocuments()).toBe(2);
  });

  test("a command body over 16 MiB + 16 KiB is refused whole", async () => {
    const big = coll("limit_body");
    const error = await serverError(big.insertOne({ _id: 1, blob: "x".repeat(MAX + 64 * 1024) }));
    expect(error.code).toBe(10334);
    expect(error.message).toContain("is invalid. Size must be between 0 and 16793600");
    expect(await big.countDocuments()).toBe(0);
  });

  test("an update whose result is over 16 MiB changes nothing", async () => {
    const grown = coll("limit_update");
    const half = "x".repeat(9 * 1024 * 1024);
    await grown.insertOne({ _id: 1, a: half });
    const error = await serverError(
      grown.updateOne({ _id: 1 }, { $set: { b: "y".repeat(8 * 1024 * 1024) } }),
    );
    expect(error.code).toBe(17419);
    expect(error.message).toContain("Resulting document after update is larger than 16777216");
    const fam = await serverError(
      grown.findOneAndUpdate({ _id: 1 }, { $set: { b: "z".repeat(8 * 1024 * 1024) } }),
    );
    expect(fam.code).toBe(17419);
    const stored = await grown.findOne({ _id: 1 });
    expect(stored?.b).toBeUndefined();
    expect(stored?.a).toHaveLength(half.length);
  });

  test("an upsert whose new document is over 16 MiB inserts nothing", async () => {
    const made = coll("limit_upsert");
    const error = await serverError(
      made.updateOne({ _id: "u" }, { $set: { blob: "x".repeat(MAX) } }, { upsert: true }),
    );
    expect(error.code).toBe(17420);
    expect(error.message).toContain("Document to upsert is larger than 16777216");
    expect<unknown>(await made.countDocuments()).toBe(0);
  });
});

describe("sort in update statements (MongoDB 8.0) on 7.0", () => {
  test("updateOne/replaceOne with sort are refused as unknown fields; findAndModify sorts", async () => {
    const rows = coll("upd_sort");
    await rows.insertMany([
      { _id: 1, x: 1 },
      { _id: 2, x: 2 },
    ]);
    if (serverMajor >= 8) return;
    const update = await serverError(
      rows.updateOne({}, { $set: { hit: true } }, { sort: { _id: -1 } }),
    );
    expect(update.code).toBe(40415);
    expect(update.message).toContain("'update.updates.sort' is an unknown field");
    const replace = await serverError(rows.replaceOne({}, { x: 9 }, { sort: { _id: -1 } }));
    expect(replace.code).toBe(40415);
    expect<unknown>(await rows.countDocuments({ hit: true })).toBe(0);
    expect<unknown>(await rows.countDocuments({ x: 9 })).toBe(0);
    const last = await rows.findOneAndUpdate(
      {},
      { $set: { hit: true } },
      { sort: { _id: -1 }, returnDocument: "after" },
    );
    expect<unknown>(last).toEqual({ _id: 2, x: 2, hit: true });
  });
});

describe("field order", () => {
  test("an inclusion projection returns _id first, as mongod does", async () => {
    const things = client.db(mongo.dbName).collection("field_order");
    await things.insertOne({ a: 1, b: 2, c: { d: 3 } });
    const keys = async (projection: Record<string, unknown>) =>
      Object.keys((await things.findOne({}, { projection })) ?? {});
    expect(await keys({ a: 1 })).toEqual(["_id", "a"]);
    // Included fields keep the document's order, not the projection's.
    expect(await keys({ c: 1, a: 1 })).toEqual(["_id", "a", "c"]);
    expect(await keys({ a: 1, list: { $slice: 1 } })).toEqual(["_id", "a"]);
  });
});
