/**
 * Update semantics of the embedded store that apps can tell apart from MongoDB 7.0: `_id` set to
 * its own value, several fields under one array element, `$pull` conditions, type errors that
 * must fail the write, and pipeline updates that drop `_id`. Driven through the official driver
 * and Mongoose; runs unchanged against a real server with MONGODB_URI set.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  type Db,
  type Document,
  Double,
  MongoBulkWriteError,
  MongoClient,
  ObjectId,
} from "mongodb";
import mongoose from "mongoose";
import { serverError, type TestMongo, testMongo } from "./support/mongo.ts";

let mongo: TestMongo;
let client: MongoClient;
let db: Db;
let connection: mongoose.Connection;

beforeAll(async () => {
  mongo = await testMongo();
  client = new MongoClient(mongo.uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  db = client.db(mongo.dbName);
  connection = await mongoose
    .createConnection(mongo.uri, { dbName: mongo.dbName, autoIndex: true })
    .asPromise();
});

afterAll(async () => {
  await connection?.close();
  await client?.close();
  await mongo?.stop();
});

async function bulkError(promise: Promise<unknown>): Promise<MongoBulkWriteError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MongoBulkWriteError) return error;
    throw error;
  }
  throw new Error("expected a bulk write error");
}

/** Test documents carry arbitrary shapes, including non-ObjectId `_id`s. */
interface AnyDoc extends Document {
  _id?: ObjectId | number | string;
}

describe("_id set to its current value", () => {
  test("$set of _id to the same ObjectId, or an equal new instance, is accepted", async () => {
    const coll = db.collection("id_same_set");
    const { insertedId: _id } = await coll.insertOne({ a: 1 });
    const same = await coll.updateOne({ _id }, { $set: { _id, a: 2 } });
    expect(same.modifiedCount).toBe(1);
    const copy = new ObjectId(_id.toHexString());
    const equal = await coll.updateOne({ _id }, { $set: { _id: copy, a: 3 } });
    expect(equal.modifiedCount).toBe(1);
    // Setting only _id to its own value changes nothing.
    const noop = await coll.updateOne({ _id }, { $set: { _id: copy } });
    expect([noop.matchedCount, noop.modifiedCount]).toEqual([1, 0]);
    expect(await coll.findOne({ _id })).toEqual({ _id, a: 3 });

    const found = await coll.findOneAndUpdate(
      { _id },
      { $set: { _id, a: 4 } },
      { returnDocument: "after" },
    );
    expect(found).toEqual({ _id, a: 4 });
  });

  test("$set of _id to a different value is refused with ImmutableField", async () => {
    const coll = db.collection<AnyDoc>("id_other_set");
    await coll.insertOne({ _id: 1, a: 1 });
    const error = await serverError(coll.updateOne({ _id: 1 }, { $set: { _id: 2, a: 2 } }));
    expect(error.code).toBe(66);
    expect(error.message).toContain(
      "Performing an update on the path '_id' would modify the immutable field '_id'",
    );
    const unset = await serverError(coll.updateOne({ _id: 1 }, { $unset: { _id: "" } }));
    expect(unset.code).toBe(66);
    expect(await coll.find().toArray()).toEqual([{ _id: 1, a: 1 }]);
  });

  test("a replacement repeating the same _id is accepted; another _id is refused", async () => {
    const coll = db.collection("id_replace");
    const { insertedId: _id } = await coll.insertOne({ a: 1 });
    const replaced = await coll.replaceOne({ _id }, { _id: new ObjectId(_id.toHexString()), b: 2 });
    expect(replaced.modifiedCount).toBe(1);
    expect(await coll.findOne({ _id })).toEqual({ _id, b: 2 });
    const viaFam = await coll.findOneAndReplace(
      { _id },
      { _id, c: 3 },
      { returnDocument: "after" },
    );
    expect(viaFam).toEqual({ _id, c: 3 });

    const error = await serverError(coll.replaceOne({ _id }, { _id: new ObjectId(), d: 4 }));
    expect(error.code).toBe(66);
    expect(error.message).toContain("After applying the update, the (immutable) field '_id'");
    expect(await coll.findOne({ _id })).toEqual({ _id, c: 3 });
  });

  test("upserts whose update repeats the filter's _id insert that _id", async () => {
    const coll = db.collection<AnyDoc>("id_upsert");
    const first = new ObjectId();
    await coll.updateOne({ _id: first }, { $set: { _id: first, a: 1 } }, { upsert: true });
    const second = new ObjectId();
    await coll.updateOne(
      { _id: second },
      { $setOnInsert: { _id: new ObjectId(second.toHexString()), a: 2 } },
      { upsert: true },
    );
    // Matching an existing document, $setOnInsert does nothing at all.
    const again = await coll.updateOne(
      { _id: second },
      { $setOnInsert: { _id: second, a: 99 }, $set: { b: 1 } },
      { upsert: true },
    );
    expect([again.matchedCount, again.modifiedCount, again.upsertedCount]).toEqual([1, 1, 0]);
    // Without _id in the filter, the update chooses the _id.
    await coll.updateOne({ key: "k" }, { $setOnInsert: { _id: "chosen", a: 3 } }, { upsert: true });
    const fam = await coll.findOneAndUpdate(
      { _id: "fam" },
      { $set: { _id: "fam", a: 4 } },
      { upsert: true, returnDocument: "after" },
    );
    expect(fam).toEqual({ _id: "fam", a: 4 });

    expect(await coll.find().sort({ a: 1 }).toArray()).toEqual([
      { _id: first, a: 1 },
      { _id: second, a: 2, b: 1 },
      { _id: "chosen", key: "k", a: 3 },
      { _id: "fam", a: 4 },
    ]);

    const other = await serverError(
      coll.updateOne({ _id: "x" }, { $setOnInsert: { _id: "y" } }, { upsert: true }),
    );
    expect(other.code).toBe(66);
    expect(other.message).toContain("would modify the immutable field '_id'");
    expect(await coll.countDocuments({ _id: { $in: ["x", "y"] } })).toBe(0);
  });

  test("Mongoose: findOneAndUpdate(filter, doc.toObject()) and replaceOne with the same _id", async () => {
    const Note = connection.model(
      "UpdNote",
      new mongoose.Schema({ title: String, body: String }, { timestamps: true }),
    );
    const note = await Note.create({ title: "t", body: "b" });
    const object = note.toObject();
    object.body = "changed";
    const updated = await Note.findOneAndUpdate({ _id: note._id }, object, {
      returnDocument: "after",
    });
    expect(updated?.body).toBe("changed");

    object.title = "replaced";
    const replaced = await Note.replaceOne({ _id: note._id }, object);
    expect(replaced.modifiedCount).toBe(1);
    expect((await Note.findById(note._id).lean())?.title).toBe("replaced");

    const fresh = new mongoose.Types.ObjectId();
    const upserted = await Note.findOneAndUpdate(
      { _id: fresh },
      { _id: fresh, title: "new" },
      { upsert: true, returnDocument: "after" },
    );
    expect(upserted?._id.equals(fresh)).toBe(true);
    expect(upserted?.title).toBe("new");
  });
});

describe("several fields under one array element", () => {
  test("Mongoose: 'children.$.name' on a timestamped subdocument array", async () => {
    const Parent = connection.model(
      "UpdParent",
      new mongoose.Schema(
        { name: String, children: [new mongoose.Schema({ name: String }, { timestamps: true })] },
        { timestamps: true },
      ),
    );
    const parent = await Parent.create({ name: "p", children: [{ name: "a" }, { name: "b" }] });
    const [first, second] = parent.children;
    if (!first || !second) throw new Error("children missing");
    const before = (first as unknown as { updatedAt: Date }).updatedAt;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const result = await Parent.updateOne(
      { _id: parent._id, "children._id": first._id },
      { "children.$.name": "renamed" },
    );
    expect(result.modifiedCount).toBe(1);
    const after = await Parent.findById(parent._id).lean();
    const children = after?.children as unknown as Array<{ name: string; updatedAt: Date }>;
    expect(children.map((child) => child.name)).toEqual(["renamed", "b"]);
    expect(children[0]?.updatedAt.getTime()).toBeGreaterThan(before.getTime());

    await Parent.updateOne({ _id: parent._id }, { "children.$[].name": "all" });
    const all = await Parent.findById(parent._id).lean();
    expect(all?.children.map((child) => child.name)).toEqual(["all", "all"]);
  });

  test("$, $[] and $[x] with two fields each, through the driver", async () => {
    const coll = db.collection<AnyDoc>("array_fields");
    await coll.insertOne({
      _id: 1,
      items: [
        { k: "a", n: 1 },
        { k: "b", n: 2 },
        { k: "c", n: 3 },
      ],
    });
    await coll.updateOne(
      { _id: 1, "items.k": "b" },
      { $set: { "items.$.k": "B", "items.$.x": 1 } },
    );
    await coll.updateOne({ _id: 1 }, { $inc: { "items.$[].n": 10 }, $set: { "items.$[].y": 2 } });
    await coll.updateOne(
      { _id: 1 },
      { $set: { "items.$[big].z": 3, "items.$[big].k": "big" } },
      { arrayFilters: [{ "big.n": { $gte: 12 } }] },
    );
    expect(await coll.findOne({ _id: 1 })).toEqual({
      _id: 1,
      items: [
        { k: "a", n: 11, y: 2 },
        { k: "big", n: 12, x: 1, y: 2, z: 3 },
        { k: "big", n: 13, y: 2, z: 3 },
      ],
    });
    // The element the positional $ stands for is chosen before the update changes it.
    await coll.updateOne(
      { _id: 1, "items.k": "a" },
      { $set: { "items.$.k": "A", "items.$.n": 0 } },
    );
    const doc = await coll.findOne({ _id: 1 });
    expect(doc?.items[0]).toEqual({ k: "A", n: 0, y: 2 });
  });

  test("Double values set or incremented through positional paths stay Double", async () => {
    const coll = db.collection<AnyDoc>("array_doubles");
    await coll.insertOne({
      _id: 1,
      items: [
        { k: 1, p: new Double(2) },
        { k: 2, p: new Double(3) },
      ],
    });
    await coll.updateOne(
      { _id: 1, "items.k": 2 },
      { $set: { "items.$.q": new Double(4), "items.$.k": 5 } },
    );
    await coll.updateOne({ _id: 1 }, { $inc: { "items.$[].p": 1 } });
    await coll.updateOne(
      { _id: 1 },
      { $set: { "items.$[e].r": new Double(7) } },
      { arrayFilters: [{ "e.k": 1 }] },
    );
    const raw = await coll.findOne({ _id: 1 }, { promoteValues: false });
    const items = raw?.items as Array<Record<string, { _bsontype: string; value: number }>>;
    const shape = items.map((item) =>
      Object.fromEntries(Object.entries(item).map(([k, v]) => [k, `${v._bsontype}:${v.value}`])),
    );
    expect(shape).toEqual([
      { k: "Int32:1", p: "Double:3", r: "Double:7" },
      { k: "Int32:5", p: "Double:4", q: "Double:4" },
    ]);
  });

  test("real conflicts are refused with ConflictingUpdateOperators, even when nothing matches", async () => {
    const coll = db.collection<AnyDoc>("array_conflicts");
    await coll.insertOne({ _id: 1, a: { b: 1 }, x: 1, items: [{ k: 1 }] });
    const nested = await serverError(coll.updateOne({ _id: 1 }, { $set: { a: 1, "a.b": 2 } }));
    expect(nested.code).toBe(40);
    expect(nested.message).toContain("Updating the path 'a.b' would create a conflict at 'a'");
    const twoOperators = await serverError(
      coll.updateOne({ _id: 1 }, { $set: { x: 5 }, $inc: { x: 1 } }),
    );
    expect(twoOperators.code).toBe(40);
    expect(twoOperators.message).toContain("Updating the path 'x' would create a conflict at 'x'");
    const positional = await serverError(
      coll.updateOne({ "items.k": 1 }, { $set: { "items.$.k": 2, "items.$": { k: 3 } } }),
    );
    expect(positional.code).toBe(40);
    expect(positional.message).toContain("would create a conflict at 'items.$'");
    const noMatch = await serverError(
      coll.updateOne({ _id: "none" }, { $set: { a: 1, "a.b": 2 } }, { upsert: true }),
    );
    expect(noMatch.code).toBe(40);
    expect(await coll.find().toArray()).toEqual([{ _id: 1, a: { b: 1 }, x: 1, items: [{ k: 1 }] }]);
  });
});

describe("$pull conditions", () => {
  test("query operators over subdocuments and plain values remove the matching elements", async () => {
    const coll = db.collection<AnyDoc>("pull_conditions");
    await coll.insertOne({
      _id: 1,
      items: [
        { k: 1, qty: 3 },
        { k: 2, qty: 8 },
        { k: 3, qty: 9 },
        { k: 4, qty: 1 },
      ],
      nums: [1, 5, 6, 9],
      tags: ["a", "b", "c"],
      mixed: [1, { k: 1 }, "k"],
    });
    const or = await coll.updateOne({ _id: 1 }, {
      $pull: { items: { $or: [{ k: 1 }, { k: 2 }] } },
    } as Document);
    expect(or.modifiedCount).toBe(1);
    expect((await coll.findOne({ _id: 1 }))?.items).toEqual([
      { k: 3, qty: 9 },
      { k: 4, qty: 1 },
    ]);
    await coll.updateOne({ _id: 1 }, { $pull: { items: { qty: { $lt: 5 } } } } as Document);
    expect((await coll.findOne({ _id: 1 }))?.items).toEqual([{ k: 3, qty: 9 }]);
    await coll.updateOne({ _id: 1 }, {
      $push: { items: { $each: [{ k: 5, qty: 5 }] } },
    } as Document);
    await coll.updateOne({ _id: 1 }, {
      $pull: { items: { $and: [{ k: { $gte: 3 } }, { qty: { $gt: 6 } }] } },
    } as Document);
    expect((await coll.findOne({ _id: 1 }))?.items).toEqual([{ k: 5, qty: 5 }]);
    await coll.updateOne({ _id: 1 }, { $pull: { nums: { $gte: 6 } } } as Document);
    await coll.updateOne({ _id: 1 }, { $pull: { tags: { $in: ["a", "b"] } } } as Document);
    // A document condition only ever matches subdocuments.
    await coll.updateOne({ _id: 1 }, { $pull: { mixed: { $or: [{ k: 1 }] } } } as Document);
    const doc = await coll.findOne({ _id: 1 });
    expect([doc?.nums, doc?.tags, doc?.mixed]).toEqual([[1, 5], ["c"], [1, "k"]]);
  });
});

describe("type errors fail the write and change nothing", () => {
  const seed = [
    { _id: 1, x: 5 },
    { _id: 2, x: "text" },
    { _id: 3, comments: [{ body: "a" }] },
    { _id: 4, a: null, arr: [{ k: 1 }] },
    { _id: 5, y: 1, z: 2 },
  ];
  let coll: ReturnType<typeof db.collection<AnyDoc>>;

  beforeAll(async () => {
    coll = db.collection<AnyDoc>("type_errors");
    await coll.insertMany(seed);
  });

  async function unchanged() {
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual(seed);
  }

  test("$push onto a number", async () => {
    const error = await serverError(coll.updateOne({ _id: 1 }, { $push: { x: 1 } } as Document));
    expect(error.code).toBe(2);
    expect(error.message).toContain(
      "The field 'x' must be an array but is of type int in document {_id: 1}",
    );
    const addToSet = await serverError(
      coll.updateOne({ _id: 1 }, { $addToSet: { x: 1 } } as Document),
    );
    expect(addToSet.code).toBe(2);
    expect(addToSet.message).toContain(
      "Cannot apply $addToSet to non-array field. Field named 'x' has non-array type int",
    );
    const pull = await serverError(coll.updateOne({ _id: 1 }, { $pull: { x: 1 } } as Document));
    expect(pull.code).toBe(2);
    expect(pull.message).toContain("Cannot apply $pull to a non-array value");
    const pop = await serverError(coll.updateOne({ _id: 2 }, { $pop: { x: 1 } } as Document));
    expect(pop.code).toBe(14);
    expect(pop.message).toContain("Path 'x' contains an element of non-array type 'string'");
    await unchanged();
  });

  test("$inc and $mul on a string", async () => {
    const inc = await serverError(coll.updateOne({ _id: 2 }, { $inc: { x: 1 }, $set: { w: 1 } }));
    expect(inc.code).toBe(14);
    expect(inc.message).toContain(
      "Cannot apply $inc to a value of non-numeric type. {_id: 2} has the field 'x' of non-numeric type string",
    );
    const mul = await serverError(
      coll.findOneAndUpdate({ _id: 2 }, { $mul: { x: 2 } }, { returnDocument: "after" }),
    );
    expect(mul.code).toBe(14);
    expect(mul.message).toContain("Cannot apply $mul to a value of non-numeric type");
    const onNull = await serverError(coll.updateOne({ _id: 4 }, { $inc: { a: 1 } }));
    expect(onNull.code).toBe(14);
    expect(onNull.message).toContain("of non-numeric type null");
    await unchanged();
  });

  test("creating a field inside an array or a scalar", async () => {
    const inArray = await serverError(
      coll.updateOne({ _id: 3 }, { $set: { "comments.body": "b" } }),
    );
    expect(inArray.code).toBe(28);
    expect(inArray.message).toContain("Cannot create field 'body' in element {comments: ");
    const inNull = await serverError(coll.updateOne({ _id: 4 }, { $set: { "a.b": 1 } }));
    expect(inNull.code).toBe(28);
    expect(inNull.message).toContain("Cannot create field 'b' in element {a: null}");
    const pushIn = await serverError(
      coll.updateOne({ _id: 4 }, { $push: { "arr.tags": "t" } } as Document),
    );
    expect(pushIn.code).toBe(28);
    expect(pushIn.message).toContain("Cannot create field 'tags' in element {arr: ");
    const incIn = await serverError(coll.updateOne({ _id: 1 }, { $inc: { "x.y": 1 } }));
    expect(incIn.code).toBe(28);
    expect(incIn.message).toContain("Cannot create field 'y' in element {x: 5}");
    const renameInto = await serverError(coll.updateOne({ _id: 5 }, { $rename: { z: "y.z" } }));
    expect(renameInto.code).toBe(28);
    expect(renameInto.message).toContain("Cannot create field 'z' in element {y: 1}");
    await unchanged();
  });

  test("paths that do not exist are still created, and numeric parts index arrays", async () => {
    const other = db.collection<AnyDoc>("type_errors_ok");
    await other.insertOne({ _id: 1, arr: [{ k: 1 }, { k: 2 }], nested: {} });
    await other.updateOne({ _id: 1 }, {
      $set: { "arr.1.k": 20, "nested.deep.x": 1 },
      $inc: { "arr.0.n": 1, count: 1 },
      $push: { "arr.1.tags": "t", list: 1 },
    } as Document);
    expect(await other.findOne({ _id: 1 })).toEqual({
      _id: 1,
      arr: [
        { k: 1, n: 1 },
        { k: 20, tags: ["t"] },
      ],
      nested: { deep: { x: 1 } },
      count: 1,
      list: [1],
    });
  });

  test("in bulk writes the error lands in writeErrors and counts stay right", async () => {
    const bulk = db.collection<AnyDoc>("type_errors_bulk");
    await bulk.insertMany([
      { _id: 1, n: 1 },
      { _id: 2, n: "s" },
      { _id: 3, n: 3 },
    ]);
    const ordered = await bulkError(
      bulk.bulkWrite([
        { updateOne: { filter: { _id: 1 }, update: { $inc: { n: 1 } } } },
        { updateOne: { filter: { _id: 2 }, update: { $inc: { n: 1 } } } },
        { updateOne: { filter: { _id: 3 }, update: { $inc: { n: 1 } } } },
      ]),
    );
    expect(ordered.writeErrors).toHaveLength(1);
    const [orderedError] = [ordered.writeErrors].flat();
    expect([orderedError?.index, orderedError?.code]).toEqual([1, 14]);
    expect(ordered.result.modifiedCount).toBe(1);
    expect((await bulk.find().sort({ _id: 1 }).toArray()).map((d) => d.n)).toEqual([2, "s", 3]);

    const unordered = await bulkError(
      bulk.bulkWrite(
        [
          { updateOne: { filter: { _id: 1 }, update: { $inc: { n: 1 } } } },
          { updateOne: { filter: { _id: 2 }, update: { $push: { n: 1 } } as Document } },
          { updateOne: { filter: { _id: 3 }, update: { $inc: { n: 1 } } } },
          {
            updateOne: {
              filter: { _id: 4, n: 5 },
              update: { $push: { n: 1 } } as Document,
              upsert: true,
            },
          },
        ],
        { ordered: false },
      ),
    );
    const codes = [unordered.writeErrors].flat().map((e) => [e.index, e.code]);
    expect(codes).toEqual([
      [1, 2],
      [3, 2],
    ]);
    expect(unordered.result.modifiedCount).toBe(2);
    expect(unordered.result.upsertedCount).toBe(0);
    expect((await bulk.find().sort({ _id: 1 }).toArray()).map((d) => d.n)).toEqual([3, "s", 4]);
  });

  test("an upsert whose update fails inserts nothing", async () => {
    const ups = db.collection<AnyDoc>("type_errors_upsert");
    const push = await serverError(
      ups.updateOne({ key: "p", x: 5 }, { $push: { x: 1 } } as Document, { upsert: true }),
    );
    expect(push.code).toBe(2);
    const inc = await serverError(
      ups.findOneAndUpdate({ key: "i", x: "s" }, { $inc: { x: 1 } }, { upsert: true }),
    );
    expect(inc.code).toBe(14);
    const path = await serverError(
      ups.updateOne({ key: "c", c: 1 }, { $set: { "c.d": 1 } }, { upsert: true }),
    );
    expect(path.code).toBe(28);
    expect(await ups.countDocuments()).toBe(0);
  });
});

describe("pipeline updates and _id", () => {
  test("a pipeline whose result lacks _id keeps the document's _id", async () => {
    const coll = db.collection<AnyDoc>("pipeline_id");
    await coll.insertMany([
      { _id: 1, sub: { a: 1 }, other: true },
      { _id: 2, a: 2, b: 3 },
      { _id: 3, a: 3 },
    ]);
    await coll.updateOne({ _id: 1 }, [
      { $replaceRoot: { newRoot: "$sub" } },
      { $addFields: { x: 1 } },
    ]);
    await coll.updateOne({ _id: 2 }, [{ $project: { _id: 0, a: 1 } }]);
    await coll.updateOne({ _id: 3 }, [{ $unset: "_id" }]);
    expect(await coll.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 1, a: 1, x: 1 },
      { _id: 2, a: 2 },
      { _id: 3, a: 3 },
    ]);
    const fam = await coll.findOneAndUpdate({ _id: 2 }, [{ $replaceWith: { c: "$a" } }], {
      returnDocument: "after",
    });
    expect(fam).toEqual({ _id: 2, c: 2 });

    await coll.updateOne({ _id: 9 }, [{ $project: { _id: 0, made: { $literal: true } } }], {
      upsert: true,
    });
    expect(await coll.findOne({ _id: 9 })).toEqual({ _id: 9, made: true });
  });

  test("a pipeline that sets another _id is refused with ImmutableField", async () => {
    const coll = db.collection<AnyDoc>("pipeline_id_other");
    await coll.insertOne({ _id: 1, a: 1 });
    const error = await serverError(coll.updateOne({ _id: 1 }, [{ $set: { _id: 2 } }]));
    expect(error.code).toBe(66);
    expect(error.message).toContain(
      "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2",
    );
    const same = await coll.updateOne({ _id: 1 }, [{ $set: { _id: 1, b: 2 } }]);
    expect(same.modifiedCount).toBe(1);
    expect(await coll.find().toArray()).toEqual([{ _id: 1, a: 1, b: 2 }]);
  });
});

describe("kept: $setOnInsert, positional $ and arrayFilters errors", () => {
  test("$setOnInsert applies only when inserting", async () => {
    const coll = db.collection<AnyDoc>("kept_set_on_insert");
    await coll.updateOne(
      { key: "a" },
      { $set: { n: 1 }, $setOnInsert: { created: 1 } },
      { upsert: true },
    );
    await coll.updateOne(
      { key: "a" },
      { $set: { n: 2 }, $setOnInsert: { created: 2 } },
      { upsert: true },
    );
    expect((await coll.findOne({ key: "a" }, { projection: { _id: 0 } })) as unknown).toEqual({
      key: "a",
      n: 2,
      created: 1,
    });
  });

  test("the positional $ needs its array in the query", async () => {
    const coll = db.collection<AnyDoc>("kept_positional");
    await coll.insertOne({ _id: 1, items: [{ k: 1 }, { k: 2 }] });
    await coll.updateOne({ _id: 1, "items.k": 2 }, { $set: { "items.$.v": true } });
    expect((await coll.findOne({ _id: 1 }))?.items).toEqual([{ k: 1 }, { k: 2, v: true }]);
    const error = await serverError(coll.updateOne({ _id: 1 }, { $set: { "items.$.v": 1 } }));
    expect(error.code).toBe(2);
    expect(error.message).toContain(
      "The positional operator did not find the match needed from the query.",
    );
  });

  test("arrayFilters: unused and missing identifiers, non-array targets", async () => {
    const coll = db.collection<AnyDoc>("kept_array_filters");
    await coll.insertOne({ _id: 1, items: [{ k: 1 }], scalar: 5 });
    const unused = await serverError(
      coll.updateOne(
        { _id: 1 },
        { $set: { "items.$[a].k": 2 } },
        { arrayFilters: [{ "a.k": 1 }, { "x.k": 1 }] },
      ),
    );
    expect(unused.code).toBe(9);
    expect(unused.message).toContain(
      "The array filter for identifier 'x' was not used in the update",
    );
    const missing = await serverError(coll.updateOne({ _id: 1 }, { $set: { "items.$[y].k": 2 } }));
    expect(missing.code).toBe(2);
    expect(missing.message).toContain(
      "No array filter found for identifier 'y' in path 'items.$[y].k'",
    );
    const notArray = await serverError(coll.updateOne({ _id: 1 }, { $set: { "scalar.$[].k": 2 } }));
    expect(notArray.code).toBe(2);
    expect(notArray.message).toContain("Cannot apply array updates to non-array element scalar: 5");
    const absent = await serverError(coll.updateOne({ _id: 1 }, { $set: { "nope.$[].k": 2 } }));
    expect(absent.code).toBe(2);
    expect(absent.message).toContain(
      "The path 'nope' must exist in the document in order to apply array updates.",
    );
    expect(await coll.findOne({ _id: 1 })).toEqual({ _id: 1, items: [{ k: 1 }], scalar: 5 });
  });
});
