/**
 * Compact text diffs for the code history: what is stored per version grows with the change, not
 * with the text.
 *
 * A diff is a string of hunks, in ascending order, each written `<at>,<deleted>,<length>,<text>`:
 * at offset `at` of the text before, `deleted` characters give way to `text`, which is `length`
 * characters long (the length says where it ends, so it needs no escaping). Offsets and lengths
 * count UTF-16 code units, as JavaScript strings do. Typing "abc" at offset 5210 of a 10,000
 * character file is `5210,0,3,abc`.
 *
 * The hunks come from a line diff (Myers) of the changed middle, each narrowed to the characters
 * that differ, so a batch with edits in several places stores each edit rather than everything
 * between them. A change too scattered for that stays one hunk.
 */

interface Hunk {
  at: number;
  deleted: number;
  text: string;
}

/** Edit distance (in lines) past which the line diff gives up: the change is large anyway. */
const MAX_LINE_EDITS = 64;

export function diff(before: string, after: string): string {
  const prefix = commonPrefix(before, after);
  const suffix = commonSuffix(before, after, prefix);
  const oldMiddle = before.slice(prefix, before.length - suffix);
  const newMiddle = after.slice(prefix, after.length - suffix);
  if (oldMiddle.length === 0 && newMiddle.length === 0) return "";
  const whole = encode([{ at: prefix, deleted: oldMiddle.length, text: newMiddle }]);
  const pieces = lineHunks(oldMiddle, newMiddle, prefix);
  if (!pieces) return whole;
  const split = encode(pieces);
  return split.length < whole.length ? split : whole;
}

/** The text after, from the text before and the diff between them. Throws on a malformed diff. */
export function patch(before: string, diff: string): string {
  let out = "";
  let cursor = 0;
  let i = 0;
  const number = () => {
    const comma = diff.indexOf(",", i);
    const value = Number(diff.slice(i, comma));
    if (comma < 0 || !Number.isInteger(value) || value < 0) throw new Error("malformed diff");
    i = comma + 1;
    return value;
  };
  while (i < diff.length) {
    const at = number();
    const deleted = number();
    const length = number();
    if (at < cursor || at + deleted > before.length || i + length > diff.length) {
      throw new Error("malformed diff");
    }
    out += before.slice(cursor, at) + diff.slice(i, i + length);
    i += length;
    cursor = at + deleted;
  }
  return out + before.slice(cursor);
}

function encode(hunks: Hunk[]): string {
  return hunks.map((h) => `${h.at},${h.deleted},${h.text.length},${h.text}`).join("");
}

/**
 * Neither end of a hunk may fall inside a surrogate pair: a lone surrogate cannot be stored (BSON
 * strings are UTF-8) and would come back as U+FFFD.
 */
const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let n = 0;
  while (n < max && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  if (n > 0 && isHighSurrogate(a.charCodeAt(n - 1))) n--;
  return n;
}

/** Common suffix, not reaching into the first `prefix` characters of either. */
function commonSuffix(a: string, b: string, prefix: number): number {
  const max = Math.min(a.length, b.length) - prefix;
  let n = 0;
  while (n < max && a.charCodeAt(a.length - 1 - n) === b.charCodeAt(b.length - 1 - n)) n++;
  if (n > 0 && isLowSurrogate(a.charCodeAt(a.length - n))) n--;
  return n;
}

/** Lines with their line breaks, so that joining them gives the text back. */
function lines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * The hunks of a line diff of `before` and `after` (both starting at offset `base` of the whole
 * texts), each narrowed to the characters that differ; undefined when the texts differ in more
 * than MAX_LINE_EDITS lines or in only one place.
 */
function lineHunks(before: string, after: string, base: number): Hunk[] | undefined {
  const a = lines(before);
  const b = lines(after);
  const matches = commonLines(a, b);
  if (!matches) return undefined;
  const hunks: Hunk[] = [];
  let i = 0;
  let j = 0;
  let offset = base;
  const flush = (toI: number, toJ: number) => {
    if (toI === i && toJ === j) return;
    const removed = a.slice(i, toI).join("");
    const added = b.slice(j, toJ).join("");
    const start = commonPrefix(removed, added);
    const end = commonSuffix(removed, added, start);
    hunks.push({
      at: offset + start,
      deleted: removed.length - start - end,
      text: added.slice(start, added.length - end),
    });
    offset += removed.length;
    i = toI;
    j = toJ;
  };
  for (const [mi, mj] of matches) {
    flush(mi, mj);
    offset += a[mi]!.length;
    i = mi + 1;
    j = mj + 1;
  }
  flush(a.length, b.length);
  return hunks.length > 1 ? hunks : undefined;
}

/**
 * The lines `a` and `b` have in common, as index pairs in order (Myers' O(ND) diff); undefined
 * when more than MAX_LINE_EDITS lines differ.
 */
function commonLines(a: string[], b: string[]): [number, number][] | undefined {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_LINE_EDITS);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!)
          ? v[offset + k + 1]!
          : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, offset, n, m);
    }
  }
  return undefined;
}

function backtrack(trace: Int32Array[], offset: number, n: number, m: number): [number, number][] {
  const matches: [number, number][] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d]!;
    const k = x - y;
    const previousK =
      k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? k + 1 : k - 1;
    const previousX = d === 0 ? 0 : v[offset + previousK]!;
    const previousY = d === 0 ? 0 : previousX - previousK;
    while (x > previousX && y > previousY) {
      x--;
      y--;
      matches.push([x, y]);
    }
    x = previousX;
    y = previousY;
  }
  return matches.reverse();
}
