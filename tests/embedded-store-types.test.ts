/**
 * BSON types in the embedded store, through the official driver: `$type` for every type an app
 * can store, exact Int64 values in filters, comparisons across numeric types, BinData in bit and
 * range queries, subtypes through `$set`, numeric types through aggregation, `$all` on scalars,
 * and `__proto__`/`constructor`/`prototype` as ordinary field names. Every expectation is
 * MongoDB 7.0's documented behaviour, so the file runs unchanged against a real server
 * (MONGODB_URI); the one check about the store's own process is skipped there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  Binary,
  BSONSymbol,
  Code,
  type Collection,
  type Db,
  Decimal128,
  type Document,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  MongoClient,
  ObjectId,
  Timestamp,
} from "mongodb";
import { startEmbeddedStore } from "../src/db/embedded/index.ts";
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

interface AnyDoc {
  _id: number;
  [key: string]: unknown;
}

function coll(name: string): Collection<AnyDoc> {
  return db.collection<AnyDoc>(name);
}

async function ids(collection: Collection<AnyDoc>, filter: Document): Promise<unknown[]> {
  const docs = await collection.find(filter, { sort: { _id: 1 } }).toArray();
  return docs.map((doc) => doc._id);
}

function subtypeOf(value: unknown): number | undefined {
  return (value as Binary | undefined)?.sub_type;
}

describe("$type", () => {
  const typed = () => coll("types_type");

  beforeAll(async () => {
    await typed().insertMany([
      { _id: 1, v: new Double(1.5) },
      { _id: 2, v: new Double(5) },
      { _id: 3, v: "text" },
      { _id: 4, v: { nested: true } },
      { _id: 5, v: [new Int32(1), "x"] },
      { _id: 6, v: new Binary(Buffer.from([1, 2, 3]), 0) },
      { _id: 7, v: new ObjectId() },
      { _id: 8, v: true },
      { _id: 9, v: new Date(0) },
      { _id: 10, v: null },
      { _id: 11, v: /ab+c/i },
      { _id: 12, v: new Code("function () { return 1; }") },
      { _id: 13, v: new BSONSymbol("sym") },
      { _id: 14, v: new Code("function () { return x; }", { x: 1 }) },
      { _id: 15, v: new Int32(7) },
      { _id: 16, v: new Timestamp({ t: 1, i: 2 }) },
      { _id: 17, v: Long.fromNumber(7) },
      { _id: 18, v: Long.fromString("9007199254740993") },
      { _id: 19, v: Decimal128.fromString("1.25") },
      { _id: 20, v: new MinKey() },
      { _id: 21, v: new MaxKey() },
      { _id: 22, v: [[new Double(2)]] },
      { _id: 23 },
    ]);
  });

  test.each([
    ["double", 1, [1, 2]],
    ["string", 2, [3, 5]],
    ["object", 3, [4]],
    ["array", 4, [5, 22]],
    ["binData", 5, [6]],
    ["objectId", 7, [7]],
    ["bool", 8, [8]],
    ["date", 9, [9]],
    ["null", 10, [10]],
    ["regex", 11, [11]],
    ["javascript", 13, [12]],
    ["symbol", 14, [13]],
    ["javascriptWithScope", 15, [14]],
    ["int", 16, [5, 15]],
    ["timestamp", 17, [16]],
    ["long", 18, [17, 18]],
    ["decimal", 19, [19]],
    ["minKey", -1, [20]],
    ["maxKey", 127, [21]],
  ])("alias %s and code %d", async (alias, code, expected) => {
    expect(await ids(typed(), { v: { $type: alias } })).toEqual(expected);
    expect(await ids(typed(), { v: { $type: code } })).toEqual(expected);
  });

  test('"number" matches int, long, double and decimal; arrays of aliases match any', async () => {
    expect(await ids(typed(), { v: { $type: "number" } })).toEqual([1, 2, 5, 15, 17, 18, 19]);
    expect(await ids(typed(), { v: { $type: ["int", "long"] } })).toEqual([5, 15, 17, 18]);
    expect(await ids(typed(), { v: { $type: [16, "bool"] } })).toEqual([5, 8, 15]);
    // An Int32 is not a double, even an integral one.
    expect(await ids(typed(), { v: { $type: "double" } })).not.toContain(15);
  });

  test("types survive updates and are seen inside $elemMatch", async () => {
    const items = coll("types_type_updates");
    await items.insertMany([
      { _id: 1, n: new Int32(1), list: [{ q: new Int32(1) }] },
      { _id: 2, n: new Int32(1), list: [{ q: new Double(1) }] },
    ]);
    await items.updateOne({ _id: 1 }, { $set: { n: new Double(2) } });
    await items.updateOne({ _id: 2 }, { $inc: { n: new Int32(1) } as Document });
    expect(await ids(items, { n: { $type: "double" } })).toEqual([1]);
    expect(await ids(items, { n: { $type: "int" } })).toEqual([2]);
    expect(await ids(items, { list: { $elemMatch: { q: { $type: "double" } } } })).toEqual([2]);
    expect(await ids(items, { "list.q": { $type: "int" } })).toEqual([1]);
  });

  test("unknown aliases and empty lists are refused as mongod refuses them", async () => {
    const unknown = await serverError(
      typed()
        .find({ v: { $type: "integer" } })
        .toArray(),
    );
    expect(unknown.code).toBe(2);
    expect(unknown.message).toContain("Unknown type name alias: integer");
    const empty = await serverError(
      typed()
        .find({ v: { $type: [] } })
        .toArray(),
    );
    expect(empty.code).toBe(9);
    expect(empty.message).toContain("must match at least one type");
    const badCode = await serverError(
      typed()
        .find({ v: { $type: 42 } })
        .toArray(),
    );
    expect(badCode.code).toBe(2);
    expect(badCode.message).toContain("Invalid numerical type code: 42");
  });
});

describe("Int64 values and numbers across types", () => {
  const numbers = () => coll("types_numbers");

  beforeAll(async () => {
    await numbers().insertMany([
      { _id: 1, n: Long.fromString("9007199254740993") },
      { _id: 2, n: Long.fromString("9007199254740992") },
      { _id: 3, n: new Double(9007199254740992) },
      { _id: 4, n: new Int32(5) },
      { _id: 5, n: Long.fromNumber(5) },
      { _id: 6, n: new Double(5) },
      { _id: 7, n: Decimal128.fromString("5.0") },
      { _id: 8, n: Decimal128.fromString("5.5") },
      { _id: 9, n: new Double(5.25) },
      { _id: 10, n: Long.fromString("-9223372036854775808") },
    ]);
  });

  test("a filter on an Int64 beyond 2^53 matches that exact value", async () => {
    expect(await ids(numbers(), { n: Long.fromString("9007199254740993") })).toEqual([1]);
    expect(await ids(numbers(), { n: { $eq: Long.fromString("9007199254740993") } })).toEqual([1]);
    expect(await ids(numbers(), { n: { $gt: Long.fromString("9007199254740992") } })).toEqual([1]);
    expect(await ids(numbers(), { n: { $gte: Long.fromString("9007199254740992") } })).toEqual([
      1, 2, 3,
    ]);
    expect(
      await ids(numbers(), { n: { $in: [Long.fromString("9007199254740993"), 5.25] } }),
    ).toEqual([1, 9]);
    expect(await ids(numbers(), { n: { $lt: Long.fromString("-9223372036854775807") } })).toEqual([
      10,
    ]);
    expect(
      await numbers().countDocuments({ n: { $ne: Long.fromString("9007199254740993") } }),
    ).toBe(9);
    const found = await numbers().findOne(
      { _id: 1 },
      { promoteLongs: false, promoteValues: false },
    );
    expect(found?.n).toBeInstanceOf(Long);
    expect(String(found?.n)).toBe("9007199254740993");
  });

  test("Int32, Int64, Double and Decimal128 compare by value", async () => {
    expect(await ids(numbers(), { n: 5 })).toEqual([4, 5, 6, 7]);
    expect(await ids(numbers(), { n: Decimal128.fromString("5") })).toEqual([4, 5, 6, 7]);
    expect(await ids(numbers(), { n: { $gt: 5, $lt: 6 } })).toEqual([8, 9]);
    expect(await ids(numbers(), { n: { $gt: Decimal128.fromString("5.3") } })).toEqual([
      1, 2, 3, 8,
    ]);
    expect(await ids(numbers(), { n: { $lte: new Double(5.25) } })).toEqual([4, 5, 6, 7, 9, 10]);
  });

  test("sorting orders numbers of every type by value", async () => {
    const docs = await numbers()
      .find({}, { sort: { n: 1, _id: 1 } })
      .toArray();
    expect(docs.map((doc) => doc._id)).toEqual([10, 4, 5, 6, 7, 9, 8, 2, 3, 1]);
  });
});

describe("BinData in queries and updates", () => {
  const blobs = () => coll("types_binary");

  beforeAll(async () => {
    await blobs().insertMany([
      { _id: 1, b: new Binary(Buffer.from([0b0000_0001, 0b0000_0010]), 0) },
      { _id: 2, b: new Binary(Buffer.from([0b0000_0011]), 0) },
      { _id: 3, b: new Binary(Buffer.from([0xff, 0x00, 0x00]), 0) },
      { _id: 4, b: new Binary(Buffer.from([0x00, 0x01]), 0x80) },
      { _id: 5, b: new Int32(6) },
    ]);
  });

  test("bit operators test BinData as a little-endian bit mask", async () => {
    expect(await ids(blobs(), { b: { $bitsAllSet: [0, 9] } })).toEqual([1]);
    expect(await ids(blobs(), { b: { $bitsAnySet: [1] } })).toEqual([2, 3, 5]);
    expect(await ids(blobs(), { b: { $bitsAllClear: [0, 1] } })).toEqual([4]);
    expect(await ids(blobs(), { b: { $bitsAnyClear: [0, 1] } })).toEqual([1, 4, 5]);
    // A mask given as BinData or as a number selects the same bits.
    expect(
      await ids(blobs(), { b: { $bitsAllSet: new Binary(Buffer.from([0x01, 0x02])) } }),
    ).toEqual([1]);
    expect(await ids(blobs(), { b: { $bitsAllSet: 6 } })).toEqual([3, 5]);
    // Bits past the end of the data are clear.
    expect(await ids(blobs(), { b: { $bitsAllClear: [100] } })).toEqual([1, 2, 3, 4, 5]);
  });

  test("range operators order BinData by length, then subtype, then bytes", async () => {
    const short = new Binary(Buffer.from([0xff]), 0);
    expect(await ids(blobs(), { b: { $gt: short } })).toEqual([1, 3, 4]);
    expect(await ids(blobs(), { b: { $lt: new Binary(Buffer.from([0x00, 0x00]), 0x05) } })).toEqual(
      [1, 2],
    );
    expect(await ids(blobs(), { b: { $gte: new Binary(Buffer.from([0x01, 0x02]), 0) } })).toEqual([
      1, 3, 4,
    ]);
    // Equality takes the subtype into account.
    expect(await ids(blobs(), { b: new Binary(Buffer.from([0x00, 0x01]), 0) })).toEqual([]);
  });

  test("$set keeps a binary's subtype, even over the same bytes with another subtype", async () => {
    const items = coll("types_binary_set");
    const bytes = Buffer.from("0123456789abcdef");
    await items.insertOne({ _id: 1, u: new Binary(bytes, 0), c: new Binary(Buffer.from([9]), 0) });
    const result = await items.updateOne(
      { _id: 1 },
      {
        $set: {
          u: new Binary(bytes, 4),
          c: new Binary(Buffer.from([9]), 0x80),
          "nested.c": new Binary(Buffer.from([9]), 0x80),
        },
      },
    );
    expect(result.modifiedCount).toBe(1);
    await items.updateOne(
      { _id: 2 },
      { $set: { c: new Binary(Buffer.from([7]), 0x80) } },
      { upsert: true },
    );
    const one = await items.findOne({ _id: 1 });
    expect(subtypeOf(one?.u)).toBe(4);
    expect(subtypeOf(one?.c)).toBe(0x80);
    expect(subtypeOf((one?.nested as { c: Binary } | undefined)?.c)).toBe(0x80);
    const two = await items.findOne({ _id: 2 });
    expect(subtypeOf(two?.c)).toBe(0x80);
    expect(await ids(items, { c: new Binary(Buffer.from([9]), 0x80) })).toEqual([1]);
  });
});

describe("numeric types through aggregation", () => {
  const metrics = () => coll("types_aggregation");
  const raw = { promoteValues: false, promoteLongs: false } as const;

  beforeAll(async () => {
    await metrics().insertMany([
      {
        _id: 1,
        g: "a",
        i: new Int32(2),
        l: Long.fromNumber(10),
        d: new Double(2),
        big: new Int32(2_000_000_000),
      },
      {
        _id: 2,
        g: "a",
        i: new Int32(3),
        l: Long.fromNumber(20),
        d: new Double(3),
        big: new Int32(2_000_000_000),
      },
    ]);
  });

  test("$sum keeps the widest input type and promotes an Int32 overflow to Int64", async () => {
    const [sums] = await metrics()
      .aggregate(
        [
          {
            $group: {
              _id: "$g",
              ints: { $sum: "$i" },
              longs: { $sum: "$l" },
              doubles: { $sum: "$d" },
              overflow: { $sum: "$big" },
              count: { $sum: 1 },
              average: { $avg: "$i" },
            },
          },
        ],
        raw,
      )
      .toArray();
    expect(sums?.ints).toBeInstanceOf(Int32);
    expect(sums?.ints.valueOf()).toBe(5);
    expect(sums?.longs).toBeInstanceOf(Long);
    expect(String(sums?.longs)).toBe("30");
    expect(sums?.doubles).toBeInstanceOf(Double);
    expect(sums?.doubles.valueOf()).toBe(5);
    expect(sums?.overflow).toBeInstanceOf(Long);
    expect(String(sums?.overflow)).toBe("4000000000");
    expect(sums?.count).toBeInstanceOf(Int32);
    expect(sums?.average).toBeInstanceOf(Double);
    expect(sums?.average.valueOf()).toBe(2.5);
  });

  test("$max, $min and $first of an Int64 stay Int64", async () => {
    const [picked] = await metrics()
      .aggregate(
        [
          { $sort: { _id: 1 } },
          {
            $group: {
              _id: null,
              max: { $max: "$l" },
              min: { $min: "$l" },
              first: { $first: "$l" },
              maxDouble: { $max: "$d" },
            },
          },
        ],
        raw,
      )
      .toArray();
    expect(picked?.max).toBeInstanceOf(Long);
    expect(String(picked?.max)).toBe("20");
    expect(picked?.min).toBeInstanceOf(Long);
    expect(String(picked?.min)).toBe("10");
    expect(picked?.first).toBeInstanceOf(Long);
    expect(picked?.maxDouble).toBeInstanceOf(Double);
  });

  test("$project keeps an integral Double a Double; arithmetic follows type promotion", async () => {
    const [doc] = await metrics()
      .aggregate(
        [
          { $match: { _id: 1 } },
          {
            $project: {
              d: 1,
              copy: "$d",
              intPlusLong: { $add: ["$i", "$l"] },
              intPlusDouble: { $add: ["$i", "$d"] },
              intPlusInt: { $add: ["$i", "$i"] },
              longMinusInt: { $subtract: ["$l", "$i"] },
              product: { $multiply: ["$big", "$i"] },
              quotient: { $divide: ["$l", "$i"] },
            },
          },
        ],
        raw,
      )
      .toArray();
    expect(doc?.d).toBeInstanceOf(Double);
    expect(doc?.copy).toBeInstanceOf(Double);
    expect(doc?.intPlusLong).toBeInstanceOf(Long);
    expect(String(doc?.intPlusLong)).toBe("12");
    expect(doc?.intPlusDouble).toBeInstanceOf(Double);
    expect(doc?.intPlusDouble.valueOf()).toBe(4);
    expect(doc?.intPlusInt).toBeInstanceOf(Int32);
    expect(doc?.longMinusInt).toBeInstanceOf(Long);
    expect(String(doc?.longMinusInt)).toBe("8");
    expect(doc?.product).toBeInstanceOf(Long);
    expect(String(doc?.product)).toBe("4000000000");
    expect(doc?.quotient).toBeInstanceOf(Double);
    expect(doc?.quotient.valueOf()).toBe(5);
  });

  test("$group groups numerically equal keys of different types together", async () => {
    const keys = coll("types_group_keys");
    await keys.insertMany([
      { _id: 1, k: new Int32(1) },
      { _id: 2, k: Long.fromNumber(1) },
      { _id: 3, k: new Double(1) },
      { _id: 4, k: new Int32(2) },
    ]);
    const groups = await keys
      .aggregate([{ $group: { _id: "$k", n: { $sum: 1 } } }, { $sort: { _id: 1 } }])
      .toArray();
    expect(groups.map((group) => [Number(group._id), group.n])).toEqual([
      [1, 3],
      [2, 1],
    ]);
  });

  test("an Int64 or Double zero is false in conditions", async () => {
    const flags = coll("types_truthiness");
    await flags.insertOne({
      _id: 1,
      l: Long.fromNumber(0),
      d: new Double(0),
      one: Long.fromNumber(1),
    });
    const [doc] = await flags
      .aggregate([
        {
          $project: {
            cond: { $cond: ["$l", "yes", "no"] },
            condObject: { $cond: JSON.parse('{"if": "$d", "then": "yes", "else": "no"}') },
            and: { $and: ["$one", "$l"] },
            or: { $or: ["$l", "$d"] },
            not: { $not: ["$l"] },
            switch: {
              // MongoDB's own syntax, with `then` keys (JSON keeps them out of lint's way).
              $switch: JSON.parse(
                '{"branches": [{"case": "$l", "then": 1}, {"case": "$one", "then": 2}], "default": 3}',
              ),
            },
          },
        },
      ])
      .toArray();
    expect(doc).toEqual({
      _id: 1,
      cond: "no",
      condObject: "no",
      and: false,
      or: false,
      not: true,
      switch: 2,
    });
  });

  test("a $match after reshaping still sees the types", async () => {
    const docs = await metrics()
      .aggregate([
        { $project: { total: { $add: ["$i", "$l"] } } },
        { $match: { total: { $type: "long", $gte: 12 } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    expect(docs.map((doc) => doc._id)).toEqual([1, 2]);
  });
});

describe("numeric types through pipeline updates and $lookup", () => {
  const raw = { promoteValues: false, promoteLongs: false } as const;

  test("a pipeline update computes with the stored types and keeps the fields it leaves", async () => {
    const items = coll("types_pipeline_update");
    await items.insertOne({ _id: 1, l: Long.fromNumber(1), d: new Double(2), i: new Int32(3) });
    await items.updateOne({ _id: 1 }, [
      { $set: { next: { $add: ["$l", 1] }, half: { $divide: ["$d", 2] }, i: { $add: ["$i", 1] } } },
    ]);
    const doc = await items.findOne({ _id: 1 }, raw);
    expect(doc?.next).toBeInstanceOf(Long);
    expect(String(doc?.next)).toBe("2");
    expect(doc?.half).toBeInstanceOf(Double);
    expect(doc?.d).toBeInstanceOf(Double);
    expect(doc?.l).toBeInstanceOf(Long);
    expect(doc?.i).toBeInstanceOf(Int32);
    expect(await ids(items, { next: { $type: "long" }, d: { $type: "double" } })).toEqual([1]);
  });

  test("computed fields of a find projection follow the same promotion", async () => {
    const items = coll("types_find_projection");
    await items.insertOne({ _id: 1, l: Long.fromNumber(5), d: new Double(2), i: new Int32(3) });
    const [doc] = await items
      .find(
        {},
        { ...raw, projection: { next: { $add: ["$l", 1] }, twice: { $multiply: ["$d", "$i"] } } },
      )
      .toArray();
    expect(doc?.next).toBeInstanceOf(Long);
    expect(doc?.twice).toBeInstanceOf(Double);
  });

  test("$lookup brings foreign documents with their types", async () => {
    const orders = coll("types_lookup_orders");
    const products = coll("types_lookup_products");
    await products.insertOne({
      _id: 1,
      sku: "p1",
      price: new Double(10),
      stock: Long.fromNumber(7),
    });
    await orders.insertOne({ _id: 1, sku: "p1", qty: new Int32(2) });
    const [order] = await orders
      .aggregate(
        [
          {
            $lookup: {
              from: "types_lookup_products",
              localField: "sku",
              foreignField: "sku",
              as: "p",
            },
          },
          { $unwind: "$p" },
          {
            $project: {
              price: "$p.price",
              stock: "$p.stock",
              total: { $multiply: ["$qty", "$p.price"] },
            },
          },
        ],
        raw,
      )
      .toArray();
    expect(order?.price).toBeInstanceOf(Double);
    expect(order?.stock).toBeInstanceOf(Long);
    expect(order?.total).toBeInstanceOf(Double);
    expect(order?.total.valueOf()).toBe(20);
  });
});

describe("$all", () => {
  const tags = () => coll("types_all");

  beforeAll(async () => {
    await tags().insertMany([
      { _id: 1, tag: "a" },
      { _id: 2, tag: ["a", "b"] },
      { _id: 3, tag: ["b"] },
      {
        _id: 4,
        items: [
          { k: "x", n: 1 },
          { k: "y", n: 5 },
        ],
      },
      { _id: 5, items: [{ k: "x", n: 5 }] },
    ]);
  });

  test("matches a scalar equal to its only element", async () => {
    expect(await ids(tags(), { tag: { $all: ["a"] } })).toEqual([1, 2]);
    expect(await ids(tags(), { tag: { $all: ["a", "b"] } })).toEqual([2]);
    expect(await ids(tags(), { tag: { $all: [] } })).toEqual([]);
  });

  test("with $elemMatch clauses on arrays of documents", async () => {
    const filter = {
      items: {
        $all: [{ $elemMatch: { k: "x", n: { $lt: 3 } } }, { $elemMatch: { k: "y" } }],
      },
    };
    expect(await ids(tags(), filter)).toEqual([4]);
    expect(await ids(tags(), { items: { $all: [{ $elemMatch: { n: 5 } }] } })).toEqual([4, 5]);
  });

  test("refuses mixed and operator clauses", async () => {
    const mixed = await serverError(
      tags()
        .find({ items: { $all: [{ $elemMatch: { k: "x" } }, "y"] } })
        .toArray(),
    );
    expect(mixed.code).toBe(2);
    expect(mixed.message).toContain("$all/$elemMatch has to be consistent");
    const operator = await serverError(
      tags()
        .find({ tag: { $all: [{ $gt: "a" }] } })
        .toArray(),
    );
    expect(operator.code).toBe(2);
    expect(operator.message).toContain("no $ expressions in $all");
  });
});

describe("__proto__, constructor and prototype as field names", () => {
  function own(doc: unknown, key: string): unknown {
    return Object.getOwnPropertyDescriptor(doc, key)?.value;
  }

  test("are stored, returned and matched like any other field", async () => {
    const items = coll("types_proto");
    // JSON.parse makes "__proto__" an own key, which the driver serializes like any other.
    const doc = JSON.parse(
      '{"_id": 1, "__proto__": {"x": 1}, "a": 1, "constructor": {"y": 2}, "prototype": 3, "n": {"__proto__": {"z": 4}}}',
    );
    await items.insertOne(doc);
    await items.insertOne({ _id: 2, a: 2 });

    const found = await items.findOne({ _id: 1 });
    expect(own(found, "__proto__")).toEqual({ x: 1 });
    expect(own(found, "constructor")).toEqual({ y: 2 });
    expect(own(found, "prototype")).toBe(3);
    expect(own(own(found, "n"), "__proto__")).toEqual({ z: 4 });
    expect(Object.getPrototypeOf(found)).toBe(Object.prototype);

    expect(await ids(items, { "__proto__.x": 1 })).toEqual([1]);
    expect(await ids(items, JSON.parse('{"__proto__": {"x": 1}}'))).toEqual([1]);
    expect(await ids(items, { "constructor.y": 2 })).toEqual([1]);
    expect(await ids(items, { prototype: 3 })).toEqual([1]);
    expect(await ids(items, { "n.__proto__.z": { $gte: 4 } })).toEqual([1]);
    expect(await ids(items, { "__proto__.x": { $exists: false } })).toEqual([2]);

    await items.updateOne({ _id: 1 }, { $set: { "__proto__.w": 5, "constructor.v": 6 } });
    await items.updateOne({ _id: 2 }, { $set: { "__proto__.x": 7 } });
    const projected = await items.findOne({ _id: 1 }, { projection: { "__proto__.w": 1, _id: 0 } });
    expect(own(projected, "__proto__")).toEqual({ w: 5 });
    const second = await items.findOne({ _id: 2 });
    expect(own(second, "__proto__")).toEqual({ x: 7 });
    expect(await ids(items, { "__proto__.x": { $in: [1, 7] } })).toEqual([1, 2]);
    expect(await ids(items, { "constructor.v": 6 })).toEqual([1]);

    const sorted = await items.find({}, { sort: { "__proto__.x": -1 } }).toArray();
    expect(sorted.map((d) => d._id)).toEqual([2, 1]);

    const grouped = await items
      .aggregate([
        { $match: { "__proto__.x": { $exists: true } } },
        { $group: { _id: "$__proto__.x", n: { $sum: 1 } } },
        { $sort: { _id: 1 } },
      ])
      .toArray();
    expect(grouped).toEqual([
      { _id: 1, n: 1 },
      { _id: 7, n: 1 },
    ]);
    const [reshaped] = await items
      .aggregate([
        { $match: { _id: 1 } },
        { $project: JSON.parse('{"_id": 0, "__proto__": 1, "copy": "$__proto__.w"}') },
      ])
      .toArray();
    expect(own(reshaped, "__proto__")).toEqual({ x: 1, w: 5 });
    expect(own(reshaped, "copy")).toBe(5);
    expect((await items.distinct("__proto__.x")).sort()).toEqual([1, 7]);
  });

  test.skipIf(usingExternalMongo)("survive the journal, as do binary subtypes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "embedded-store-types-"));
    try {
      const write = async (run: (database: Db) => Promise<void>) => {
        const store = await startEmbeddedStore({ port: 0, dir });
        const local = new MongoClient(store.uri);
        try {
          await run(local.db("journal"));
        } finally {
          await local.close();
          await store.stop();
        }
      };
      await write(async (database) => {
        await database
          .collection<AnyDoc>("items")
          .insertOne(JSON.parse('{"_id": 1, "__proto__": {"x": 1}}'));
        await database
          .collection<AnyDoc>("items")
          .updateOne({ _id: 1 }, { $set: { b: new Binary(Buffer.from([1]), 0x80) } });
      });
      await write(async (database) => {
        const doc = await database.collection<AnyDoc>("items").findOne({ "__proto__.x": 1 });
        expect(own(doc, "__proto__")).toEqual({ x: 1 });
        expect(subtypeOf(doc?.b)).toBe(0x80);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(usingExternalMongo)("leave the store's own objects untouched", async () => {
    const polluted = Object.getOwnPropertyNames(Object.prototype).filter((key) =>
      ["x", "y", "z", "w", "v"].includes(key),
    );
    expect(polluted).toEqual([]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(({} as Record<string, unknown>).w).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });
});
