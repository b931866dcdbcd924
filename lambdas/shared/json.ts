/**
 * JSON with exact 64-bit integers. JSON.parse alone rounds integers beyond 2^53; a reviver that reads the source
 * text (Node >= 21) keeps them as BigInt. The reviver is slow, so it only runs when a long digit run is present.
 */
const LONG_DIGITS = /\d{16}/;

function exactInteger(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}

/** Parses JSON; integers outside the safe range come back as BigInt. Throws SyntaxError on invalid JSON. */
export function parseJsonExact(text: string): unknown {
  return LONG_DIGITS.test(text) ? JSON.parse(text, exactInteger as (k: string, v: unknown) => unknown) : JSON.parse(text);
}

declare global {
  interface JSON {
    rawJSON(text: string): unknown;
  }
}

function bigintAsNumber(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? JSON.rawJSON(value.toString()) : value;
}

/** Stringifies JSON, writing BigInt as exact JSON numbers. */
export function stringifyJsonExact(value: unknown): string {
  // A replacer makes JSON.stringify several times slower; only values holding a BigInt need it (and throw without).
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return JSON.stringify(value, bigintAsNumber);
  }
}

/** JSON text of a value as one line: a valid JSON document cannot hold a raw line break inside a string. */
export function toSingleLine(jsonText: string): string {
  return jsonText.includes('\n') || jsonText.includes('\r') ? jsonText.replace(/\s*[\r\n]\s*/g, '') : jsonText;
}
