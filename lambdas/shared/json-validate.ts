/**
 * One linear pass over a JSON value's UTF-8 bytes (RFC 8259 grammar) that proves it is one JSON document a
 * mainstream reader accepts, without building it (building is most of JSON.parse's cost on a 6 MB batch). Besides
 * the grammar it refuses what readers refuse or misread, each with a reason for the dead letter:
 *  - nesting deeper than Limits.maxJsonDepth (recursive serializers and readers overflow their stacks);
 *  - a lone UTF-16 surrogate escape ("\ud800"): not a Unicode string (DuckDB refuses the whole file, Avro and
 *    Parquet would hold invalid UTF-8);
 *  - two keys of one object that are equal, or equal but for letter case ({"a":1,"a":2}, {"Id":1,"id":2}):
 *    pyarrow and DuckDB refuse duplicates, case-insensitive engines (DuckDB, Athena, Spark) cannot tell them apart.
 * It also reports whether any number may not survive a double (≥ 16 digits or an exponent), so the caller parses
 * with source text only when needed, and how many fields the top-level object has.
 * Byte-level UTF-8 validity is checked separately (buffer.isUtf8). Differential-tested against JSON.parse.
 * Every step is O(1) per byte, except key comparison, which is O(k) per object of k keys (a Set past 16 keys).
 */
import { Limits } from './constants.ts';

const WS = new Uint8Array(256);
WS[0x20] = 1; WS[0x09] = 1; WS[0x0a] = 1; WS[0x0d] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESC = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESC[c.charCodeAt(0)] = 1;
/**
 * Bytes a string holds as they are: printable ASCII but the quote and the backslash (1), and bytes of non-ASCII
 * characters (KEY_NON_ASCII, noted in the string's flags); 0 for the bytes the string scan must look at.
 */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) PLAIN[c] = 1;
for (let c = 0x80; c < 0x100; c++) PLAIN[c] = 2;
PLAIN[0x22] = 0;
PLAIN[0x5c] = 0;

const OBJECT = 1;
const ARRAY = 2;

/** What one check found; `reason` is null for a valid document. */
export interface JsonCheck {
  readonly reason: string | null;
  /** A number has 16 or more digits or an exponent: it may not be exact as a double. */
  readonly riskyNumbers: boolean;
  /**
   * The value holds LF or CR. Strings cannot (a control character must be escaped there), so these are whitespace
   * between tokens: the bytes would split a JSON line.
   */
  readonly lineBreaks: boolean;
  /** Fields of the top-level value when it is an object, else 0. */
  readonly topLevelFields: number;
  /** The top-level object's field names, when asked for (checkJson's `names`). */
  readonly topLevelNames?: string[];
  /** The value is an object (its first byte is `{`). */
  readonly topLevelObject: boolean;
  /** No string holds a byte above 0x7F. With no `reason`, the value is then ASCII, so valid UTF-8 (elsewhere such a
   * byte is a syntax error): the caller's UTF-8 check can be skipped. */
  readonly ascii: boolean;
  /** A top-level name may be an integer such as "2" (JSON.parse puts those first, in numeric order): it starts with
   * a digit or holds an escape. */
  readonly integerNames: boolean;
}

// Module-level cursor instead of closures: the check runs once per record, so it must not allocate.
let b: Uint8Array = new Uint8Array(0);
let n = 0;
let i = 0;
let problem: string | null = null;
/** KEY_NON_ASCII once a string held a byte above 0x7F. */
let nonAscii = 0;
let risky = false;
let breaks = false;
let topFields = 0;
/** Kind of each open container, `depth` of them (typed arrays with a top index: no array growth or trimming). */
const stack = new Uint8Array(Limits.maxJsonDepth + 1);
let depth = 0;
/** Index into `keys` where each open object's keys start (parallel to `stack`). */
const keyBase = new Int32Array(Limits.maxJsonDepth + 1);
/** Flat triples per key of the open objects: start, end (bytes inside the quotes), flags. */
let keys = new Int32Array(3 * 64);
let keyTop = 0;
/** Above this many entries, the key array is dropped after a check rather than kept for the next value. */
const KEYS_KEPT = 3 * 4096;

function pushKey(start: number, end: number, flags: number): void {
  if (keyTop + 3 > keys.length) {
    const next = new Int32Array(keys.length * 2);
    next.set(keys);
    keys = next;
  }
  keys[keyTop] = start;
  keys[keyTop + 1] = end;
  keys[keyTop + 2] = flags;
  keyTop += 3;
}
const KEY_ESCAPED = 1;
const KEY_NON_ASCII = 2;
let stringFlags = 0;

// The hot loops copy the module-level cursor into locals (registers) and store it back once.
function ws(): void {
  const bytes = b, end = n;
  let at = i;
  while (at < end) {
    const c = bytes[at];
    if (WS[c] === 0) break;
    if (c === 0x0a || c === 0x0d) breaks = true;
    at++;
  }
  if (at !== i) odd = true;
  i = at;
}

function hex4(at: number): number {
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const c = b[k];
    v = v * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
  }
  return v;
}

function string(): boolean {
  i++; // opening quote
  stringFlags = 0;
  for (;;) {
    {
      const bytes = b, end = n;
      let at = i;
      let seen = 0;
      // The common bytes, one lookup each; a non-ASCII byte only sets a flag.
      for (let k: number; at < end && (k = PLAIN[bytes[at]]) !== 0; at++) seen |= k;
      i = at;
      stringFlags |= seen & KEY_NON_ASCII;
      nonAscii |= seen & KEY_NON_ASCII;
    }
    if (i >= n) return false;
    const c = b[i];
    if (c === 0x22) { i++; return true; }
    if (c < 0x20) return false;
    if (c === 0x5c) {
      if (i + 1 >= n) return false;
      const e = b[i + 1];
      if (!ESC[e]) return false;
      stringFlags |= KEY_ESCAPED;
      odd = true;
      if (e === 0x75) {
        if (i + 5 >= n || !HEX[b[i + 2]] || !HEX[b[i + 3]] || !HEX[b[i + 4]] || !HEX[b[i + 5]]) return false;
        const unit = hex4(i + 2);
        i += 6;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // A high surrogate must be followed at once by an escaped low one.
          const pair = i + 5 < n && b[i] === 0x5c && b[i + 1] === 0x75 && HEX[b[i + 2]] && HEX[b[i + 3]] && HEX[b[i + 4]] && HEX[b[i + 5]];
          const low = pair ? hex4(i + 2) : 0;
          if (low < 0xdc00 || low > 0xdfff) { problem = `lone UTF-16 surrogate \\u${unit.toString(16)} in a string (not Unicode text)`; return false; }
          i += 6;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          problem = `lone UTF-16 surrogate \\u${unit.toString(16)} in a string (not Unicode text)`;
          return false;
        }
      } else i += 2;
    } else i++;
  }
}

function digits(): number {
  const bytes = b, end = n, s = i;
  let at = s;
  while (at < end && bytes[at] >= 0x30 && bytes[at] <= 0x39) at++;
  i = at;
  return at - s;
}

function number(): boolean {
  const start = i;
  if (b[i] === 0x2d) i++;
  if (i >= n) return false;
  let count = 0;
  const zero = b[i] === 0x30;
  if (zero) { i++; count = 1; } else if (b[i] >= 0x31 && b[i] <= 0x39) count = digits();
  else return false;
  if (i < n && b[i] === 0x2e) {
    i++;
    const from = i;
    const f = digits();
    if (f === 0) return false;
    count += f;
    // JSON.stringify writes a fraction otherwise when it ends in 0 (1.50 -> 1.5) or is below 1e-6 (0.0000001 -> 1e-7).
    if (b[i - 1] === 0x30 || (zero && f >= 7 && b[from] === 0x30 && b[from + 1] === 0x30 && b[from + 2] === 0x30 && b[from + 3] === 0x30 && b[from + 4] === 0x30 && b[from + 5] === 0x30)) odd = true;
  } else if (zero && b[start] === 0x2d) odd = true; // -0 is written 0
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    if (digits() === 0) return false;
    risky = true;
    exponent = true;
    odd = true;
  } else exponent = false;
  // Up to 15 significant digits always survive a double (DBL_DIG); more may not.
  if (count >= 16) {
    risky = true;
    odd = true;
  }
  // Only an exponent or 309+ digits can go beyond a double's range; Number() runs for those alone.
  if (finiteOnly && (exponent || count >= 309)) {
    const text = Buffer.from(b.buffer, b.byteOffset + start, i - start).toString('latin1');
    if (!Number.isFinite(Number(text))) {
      problem = `number ${text.length > 40 ? `${text.slice(0, 37)}...` : text} is beyond the range of a double (JSON lines readers such as pyarrow refuse the whole file; VALUE_ENCODING=text keeps it as text)`;
      return false;
    }
  }
  return true;
}
let exponent = false;

function literal(a: number, c2: number, c3: number, c4: number, c5: number): boolean {
  // true / null (4 letters, c5 = -1) and false (5 letters)
  if (b[i] !== a || b[i + 1] !== c2 || b[i + 2] !== c3 || b[i + 3] !== c4) return false;
  if (c5 >= 0) {
    if (b[i + 4] !== c5) return false;
    i += 5;
  } else i += 4;
  return true;
}

function open(kind: number): boolean {
  i++;
  if (depth === Limits.maxJsonDepth) {
    problem = `nested deeper than ${Limits.maxJsonDepth} levels`;
    return false;
  }
  stack[depth] = kind;
  keyBase[depth] = keyTop;
  depth++;
  return true;
}

/** One scalar, or the opening of a container (pushed on the stack). */
function value(): boolean {
  if (i >= n) return false;
  const c = b[i];
  if (c === 0x22) return string();
  if (c === 0x7b) return open(OBJECT);
  if (c === 0x5b) return open(ARRAY);
  if (c === 0x74) return literal(0x74, 0x72, 0x75, 0x65, -1);
  if (c === 0x66) return literal(0x66, 0x61, 0x6c, 0x73, 0x65);
  if (c === 0x6e) return literal(0x6e, 0x75, 0x6c, 0x6c, -1);
  return number();
}

/** A key and colon (after `{` or `,`), leaving i at the member's value. */
function memberKey(): boolean {
  ws();
  if (b[i] !== 0x22) return false;
  const start = i + 1;
  if (!string()) return false;
  pushKey(start, i - 1, stringFlags);
  // An integer-like key: JSON.parse orders such keys first, so the text is not what JSON.stringify writes back.
  // An escaped key may spell one too ("\u0032"): counted as such.
  const integer = (b[start] >= 0x30 && b[start] <= 0x39) || (stringFlags & KEY_ESCAPED) !== 0;
  if (depth === 1) {
    topFields++;
    if (integer) integerNames = true;
  } else if (integer) odd = true;
  ws();
  if (b[i] !== 0x3a) return false;
  i++;
  ws();
  if (wantValues && depth === 1) startTop();
  return true;
}

/*
 * Top-level values, when asked for: where each member of the top-level object starts and ends, its first byte, and
 * whether its text is not what JSON.stringify(JSON.parse(text)) writes (`odd`: whitespace, an escape, an
 * integer-like key, or a number written otherwise: 1.50, 1e3, -0, 16+ digits). Flat quadruples in `tops`, read with
 * topLevelSpans() until the next check.
 */
let wantValues = false;
let odd = false;
let integerNames = false;
let tops = new Int32Array(4 * 64);

function startTop(): void {
  const k = (topFields - 1) * 4;
  if (k + 4 > tops.length) {
    const next = new Int32Array(tops.length * 2);
    next.set(tops);
    tops = next;
  }
  tops[k] = b[i];
  tops[k + 1] = i;
  odd = false;
}

function endTop(): void {
  const k = (topFields - 1) * 4;
  tops[k + 2] = i;
  tops[k + 3] = odd ? 1 : 0;
}

/** First byte, start, end (exclusive) and odd flag (1) of each top-level member's value, from the last check. */
export function topLevelSpans(): Int32Array {
  return tops;
}

const lowerAscii = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

function sameFolded(a: number, b2: number): boolean {
  const as = keys[a], ae = keys[a + 1], bs = keys[b2], be = keys[b2 + 1];
  if (ae - as !== be - bs) return false;
  for (let k = 0; k < ae - as; k++) if (lowerAscii(b[as + k]) !== lowerAscii(b[bs + k])) return false;
  return true;
}

function keyText(at: number): string {
  const s = keys[at], e = keys[at + 1];
  const raw = Buffer.from(b.buffer, b.byteOffset + s, e - s);
  // Escaped keys are compared by what they mean ("\u0061" is "a").
  return keys[at + 2] & KEY_ESCAPED ? (JSON.parse(`"${raw.toString('utf8')}"`) as string) : raw.toString('utf8');
}

/*
 * Top-level names, when asked for. Records of a topic mostly share their field names: when a top-level object's keys
 * are, byte for byte, those of the last one that passed, its list is handed out as it is (no string built, the key
 * checks not repeated since their outcome is the same, and the same array, which lets the caller see at once that
 * nothing changed). Callers must not change the list.
 */
/** The top-level names of the last value that listed them, and their bytes (one copy, end offsets in `lastEnds`). */
let lastNames: string[] | undefined;
let lastBytes = new Uint8Array(0);
const lastEnds: number[] = [];

/** Whether the keys from `base` are, byte for byte, those of the last list kept (`lastNames`). */
function sameAsLastNames(base: number): boolean {
  const count = (keyTop - base) / 3;
  if (lastNames === undefined || lastNames.length !== count) return false;
  let from = 0;
  for (let k = base, j = 0; k < keyTop; k += 3, j++) {
    const s = keys[k], e = keys[k + 1], end = lastEnds[j];
    if (e - s !== end - from) return false;
    for (let x = 0; x < e - s; x++) if (b[s + x] !== lastBytes[from + x]) return false;
    from = end;
  }
  return true;
}

/** Keeps the names of a top-level object that passed the key checks, for the next values (sameAsLastNames). */
function keepNames(base: number): string[] {
  const list: string[] = [];
  let total = 0;
  for (let k = base; k < keyTop; k += 3) total += keys[k + 1] - keys[k];
  const bytes = new Uint8Array(total);
  lastEnds.length = 0;
  let at = 0;
  for (let k = base; k < keyTop; k += 3) {
    list.push(keyText(k));
    bytes.set(b.subarray(keys[k], keys[k + 1]), at);
    at += keys[k + 1] - keys[k];
    lastEnds.push(at);
  }
  lastNames = list;
  lastBytes = bytes;
  return list;
}

/** Checks the keys of the object that just closed, then drops them. */
function closeObject(): boolean {
  const base = keyBase[depth - 1];
  const count = (keyTop - base) / 3;
  let ok = true;
  const top = wantNames && depth === 1;
  if (top && sameAsLastNames(base)) {
    names = lastNames;
    keyTop = base;
    depth--;
    return true;
  }
  if (count > 1) {
    let plain = true;
    for (let k = base; k < keyTop; k += 3) if (keys[k + 2] !== 0) { plain = false; break; }
    if (plain && count <= 16) {
      for (let x = base; x < keyTop && ok; x += 3) {
        for (let y = x + 3; y < keyTop; y += 3) {
          if (sameFolded(x, y)) { problem = duplicate(keyText(x), keyText(y)); ok = false; break; }
        }
      }
    } else {
      const seen = new Map<string, string>();
      for (let k = base; k < keyTop; k += 3) {
        const name = keyText(k);
        const folded = name.toLowerCase();
        const other = seen.get(folded);
        if (other !== undefined) { problem = duplicate(other, name); ok = false; break; }
        seen.set(folded, name);
      }
    }
  }
  if (ok && top) names = keepNames(base);
  keyTop = base;
  depth--;
  return ok;
}

function short(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 37)}...` : s);
}

function duplicate(a: string, c: string): string {
  return a === c
    ? `duplicate key ${short(a)} in one object (readers refuse it or keep either value)`
    : `keys ${short(a)} and ${short(c)} of one object differ only in letter case (case-insensitive readers cannot tell them apart)`;
}

const EMPTY = new Uint8Array(0);

let finiteOnly = false;
let wantNames = false;
let names: string[] | undefined;

/**
 * Checks that `bytes` holds exactly one JSON value (surrounding whitespace allowed) that readers accept. With
 * `finiteNumbers`, a number beyond the range of a double (1e400) is refused too: for JSON that is written as JSON.
 */
export function checkJson(bytes: Uint8Array, finiteNumbers = false, topLevelNames = false, topLevelValues = false): JsonCheck {
  finiteOnly = finiteNumbers;
  wantNames = topLevelNames;
  integerNames = false;
  if (tops.length > KEYS_KEPT) tops = new Int32Array(4 * 64); // the last caller has read them
  names = undefined;
  b = bytes;
  n = bytes.length;
  i = 0;
  problem = null;
  nonAscii = 0;
  risky = false;
  breaks = false;
  topFields = 0;
  depth = 0;
  keyTop = 0;
  let first = 0;
  while (first < n && WS[bytes[first]] === 1) first++;
  const object = bytes[first] === 0x7b;
  // Values only of a top-level object (the spans of an array's elements are not kept).
  wantValues = topLevelValues && object;
  const ok = walk();
  b = EMPTY; // do not keep the record's buffer alive
  keyTop = 0;
  if (keys.length > KEYS_KEPT) keys = new Int32Array(3 * 64); // one huge object does not hold memory for good
  return {
    reason: ok ? null : (problem ?? 'syntax error'), riskyNumbers: risky, lineBreaks: breaks, topLevelFields: topFields, topLevelNames: names,
    topLevelObject: object, integerNames, ascii: nonAscii === 0,
  };
}

/** True when `bytes` holds exactly one JSON value that passes checkJson. */
export function isJson(bytes: Uint8Array): boolean {
  return checkJson(bytes).reason === null;
}

function walk(): boolean {
  ws();
  if (!value()) return false;
  // Containers are walked iteratively: `entered` says one was just entered.
  let entered = depth > 0;
  while (depth > 0) {
    const top = stack[depth - 1];
    if (entered) {
      entered = false;
      ws();
      if (top === OBJECT) {
        if (b[i] === 0x7d) { i++; closeObject(); if (depth === 1 && wantValues) endTop(); continue; }
        if (!memberKey()) return false;
      } else if (b[i] === 0x5d) { i++; depth--; if (depth === 1 && wantValues) endTop(); continue; }
      const before = depth;
      if (!value()) return false;
      entered = depth > before;
      if (!entered && depth === 1 && wantValues) endTop();
      continue;
    }
    ws();
    if (i >= n) return false;
    const c = b[i];
    if (c === 0x2c) {
      i++;
      if (top === OBJECT) {
        if (!memberKey()) return false;
      } else ws();
      const before = depth;
      if (!value()) return false;
      entered = depth > before;
      if (!entered && depth === 1 && wantValues) endTop();
    } else if (c === 0x7d && top === OBJECT) {
      i++;
      if (!closeObject()) return false;
      if (depth === 1 && wantValues) endTop();
    } else if (c === 0x5d && top === ARRAY) {
      i++;
      depth--;
      if (depth === 1 && wantValues) endTop();
    } else return false;
  }
  ws();
  return i === n;
}
