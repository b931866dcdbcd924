/**
 * A JSON validator over UTF-8 bytes (RFC 8259 grammar), for the jsonl path: it proves a value is one JSON document
 * without building it, which is most of JSON.parse's cost (allocation and garbage collection) on a 6 MB batch.
 * Byte-level UTF-8 validity is checked separately (buffer.isUtf8). Differential-tested against JSON.parse.
 */
const WS = new Uint8Array(256);
WS[0x20] = 1; WS[0x09] = 1; WS[0x0a] = 1; WS[0x0d] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;
const ESC = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESC[c.charCodeAt(0)] = 1;

const OBJECT = 1;
const ARRAY = 2;

// Module-level cursor instead of closures: the validator runs once per record, so it must not allocate.
let b: Uint8Array = new Uint8Array(0);
let n = 0;
let i = 0;
const stack: number[] = [];

function ws(): void {
  while (i < n && WS[b[i]]) i++;
}

function string(): boolean {
  i++; // opening quote
  for (;;) {
    if (i >= n) return false;
    const c = b[i];
    if (c === 0x22) { i++; return true; }
    if (c < 0x20) return false;
    if (c === 0x5c) {
      if (i + 1 >= n) return false;
      const e = b[i + 1];
      if (!ESC[e]) return false;
      if (e === 0x75) {
        if (i + 5 >= n || !HEX[b[i + 2]] || !HEX[b[i + 3]] || !HEX[b[i + 4]] || !HEX[b[i + 5]]) return false;
        i += 6;
      } else i += 2;
    } else i++;
  }
}

function digits(): boolean {
  const s = i;
  while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++;
  return i > s;
}

function number(): boolean {
  if (b[i] === 0x2d) i++;
  if (i >= n) return false;
  if (b[i] === 0x30) i++;
  else if (b[i] >= 0x31 && b[i] <= 0x39) digits();
  else return false;
  if (i < n && b[i] === 0x2e) { i++; if (!digits()) return false; }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    if (!digits()) return false;
  }
  return true;
}

function literal(a: number, c2: number, c3: number, c4: number, c5: number): boolean {
  // true / null (4 letters, c5 = -1) and false (5 letters)
  if (b[i] !== a || b[i + 1] !== c2 || b[i + 2] !== c3 || b[i + 3] !== c4) return false;
  if (c5 >= 0) {
    if (b[i + 4] !== c5) return false;
    i += 5;
  } else i += 4;
  return true;
}

/** One scalar, or the opening of a container (pushed on the stack). */
function value(): boolean {
  if (i >= n) return false;
  const c = b[i];
  if (c === 0x22) return string();
  if (c === 0x7b) { i++; stack.push(OBJECT); return true; }
  if (c === 0x5b) { i++; stack.push(ARRAY); return true; }
  if (c === 0x74) return literal(0x74, 0x72, 0x75, 0x65, -1);
  if (c === 0x66) return literal(0x66, 0x61, 0x6c, 0x73, 0x65);
  if (c === 0x6e) return literal(0x6e, 0x75, 0x6c, 0x6c, -1);
  return number();
}

/** A key and colon (after `{` or `,`), leaving i at the member's value. */
function memberKey(): boolean {
  ws();
  if (b[i] !== 0x22 || !string()) return false;
  ws();
  if (b[i] !== 0x3a) return false;
  i++;
  ws();
  return true;
}

/** True when `bytes` holds exactly one JSON value (surrounding whitespace allowed). */
export function isJson(bytes: Uint8Array): boolean {
  b = bytes;
  n = bytes.length;
  i = 0;
  stack.length = 0;
  const ok = walk();
  b = EMPTY; // do not keep the record's buffer alive
  return ok;
}

const EMPTY = new Uint8Array(0);

function walk(): boolean {
  ws();
  if (!value()) return false;
  // Containers are walked iteratively: `open` says one was just entered.
  let open = stack.length > 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (open) {
      open = false;
      ws();
      if (top === OBJECT) {
        if (b[i] === 0x7d) { i++; stack.pop(); continue; }
        if (!memberKey()) return false;
      } else if (b[i] === 0x5d) { i++; stack.pop(); continue; }
      const depth = stack.length;
      if (!value()) return false;
      open = stack.length > depth;
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
      const depth = stack.length;
      if (!value()) return false;
      open = stack.length > depth;
    } else if ((c === 0x7d && top === OBJECT) || (c === 0x5d && top === ARRAY)) {
      i++;
      stack.pop();
    } else return false;
  }
  ws();
  return i === n;
}
