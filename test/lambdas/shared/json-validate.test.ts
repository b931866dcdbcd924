/**
 * The JSON check's top-level names (lambdas/shared/json-validate.ts): values of a topic mostly share their field
 * names, so the list of the last object that passed is handed out again, and its key checks skipped, when the keys
 * are byte for byte the same. That memory must never change an outcome: over generated sequences in which values
 * repeat, differ by one key, collide by case or repeat a key, every result equals that of a check without it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Limits } from '../../../lambdas/shared/constants.ts';
import { checkJson } from '../../../lambdas/shared/json-validate.ts';

/** Object texts built from a few names, so that sequences repeat key lists, collide by case and repeat keys. */
const objectText = fc.array(fc.tuple(fc.constantFrom('a', 'A', 'b', 'id', 'Id', 'é', '\\u0061', 'long_name'), fc.constantFrom('1', '"x"', '{"a":1,"a":2}', '[]', 'null')), { maxLength: 6 })
  .map((members) => `{${members.map(([k, v]) => `"${k}":${v}`).join(',')}}`);

describe('checkJson top-level names', () => {
  it('gives, over any sequence of values, the outcome and names of a check that remembers nothing', () => {
    fc.assert(fc.property(fc.array(fc.oneof(objectText, objectText.map((t) => ` ${t}\n`), fc.constant('[{"a":1}]')), { minLength: 1, maxLength: 30 }), (texts) => {
      for (const t of texts) {
        const bytes = Buffer.from(t);
        const got = checkJson(bytes, true, true);
        const fresh = checkJson(bytes, true, false); // no names asked: nothing remembered or reused
        expect(got.reason, t).toBe(fresh.reason);
        expect(got.topLevelFields).toBe(fresh.topLevelFields);
        if (got.reason === null && t.trim().startsWith('{')) expect(got.topLevelNames, t).toEqual(Object.keys(JSON.parse(t)));
      }
    }), { numRuns: 300 });
  });

  it('hands out the same list for values with the same names, and a new one when a name differs', () => {
    const first = checkJson(Buffer.from('{"id":1,"name":"a"}'), true, true).topLevelNames;
    const same = checkJson(Buffer.from('{"id":2, "name":"b"}'), true, true).topLevelNames;
    const other = checkJson(Buffer.from('{"id":3,"nome":"c"}'), true, true).topLevelNames;
    const dup = checkJson(Buffer.from('{"id":3,"id":4}'), true, true);
    expect(first).toEqual(['id', 'name']);
    expect(same).toBe(first);
    expect(other).toEqual(['id', 'nome']);
    expect(dup.reason).toMatch(/duplicate key "id"/);
    // After a refused value, the last list that passed is still the one remembered.
    expect(checkJson(Buffer.from('{"id":5,"nome":"d"}'), true, true).topLevelNames).toBe(other);
  });
});

describe('checkJson against JSON.parse', () => {
  const parses = (t: string) => {
    try {
      JSON.parse(t);
      return true;
    } catch {
      return false;
    }
  };
  /** What checkJson refuses although JSON.parse takes it (see its header): never a syntax error. */
  const REFUSED_ON_PURPOSE = /^(duplicate key|keys .* differ only in letter case|lone UTF-16 surrogate|nested deeper)/;

  it('accepts what JSON.parse accepts (but for its stated refusals) and says whether the text holds LF or CR', () => {
    const indent = fc.constantFrom<string | number>(0, 2, '\t', '\r\n', ' \r', '\n\n');
    fc.assert(fc.property(fc.jsonValue(), indent, fc.constantFrom('', ' ', '\r\n', '\n'), (v, space, around) => {
      const t = `${around}${JSON.stringify(v, null, space)}${around}`;
      const got = checkJson(Buffer.from(t));
      if (got.reason !== null) expect(got.reason, t).toMatch(REFUSED_ON_PURPOSE);
      else expect(got.lineBreaks, t).toBe(/[\r\n]/.test(t));
    }), { numRuns: 1000 });
  });

  it('refuses what JSON.parse refuses, over strings of hostile characters and mutated documents', () => {
    const hostile = fc.string({ unit: 'binary', maxLength: 40 });
    const mutated = fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.nat(), fc.string({ unit: 'binary', maxLength: 3 }))
      .map(([v, at, insert]) => {
        const t = JSON.stringify(v);
        const k = at % (t.length + 1);
        return t.slice(0, k) + insert + t.slice(k);
      });
    fc.assert(fc.property(fc.oneof(hostile, hostile.map((s) => `"${s}"`), hostile.map((s) => `{"k":"${s}"}`), mutated), (t) => {
      const got = checkJson(Buffer.from(t));
      if (got.reason === null) expect(parses(t), t).toBe(true);
      else if (parses(t)) expect(got.reason, t).toMatch(REFUSED_ON_PURPOSE);
    }), { numRuns: 3000 });
  });
});

describe('checkJson limits', () => {
  it(`takes ${Limits.maxJsonDepth} levels of nesting and refuses one more, for objects and arrays alike`, () => {
    const nest = (levels: number, open: string, close: string) => `${open.repeat(levels)}${close.repeat(levels)}`;
    expect(checkJson(Buffer.from(nest(Limits.maxJsonDepth, '[', ']'))).reason).toBeNull();
    expect(checkJson(Buffer.from(nest(Limits.maxJsonDepth + 1, '[', ']'))).reason).toBe(`nested deeper than ${Limits.maxJsonDepth} levels`);
    const objects = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
    expect(checkJson(Buffer.from(objects(Limits.maxJsonDepth))).reason).toBeNull();
    expect(checkJson(Buffer.from(objects(Limits.maxJsonDepth + 1))).reason).toMatch(/nested deeper/);
  });

  it('checks objects of many keys (the key list grows) and the next value after one', () => {
    const many = `{${Array.from({ length: 50_000 }, (_, k) => `"k${k}":${k}`).join(',')}}`;
    expect(checkJson(Buffer.from(many), false, true).topLevelFields).toBe(50_000);
    expect(checkJson(Buffer.from(`{${many.slice(1, -1)},"K49999":1}`)).reason).toMatch(/differ only in letter case/);
    expect(checkJson(Buffer.from('{"a":{"b":1,"B":2}}')).reason).toMatch(/"b" and "B"/);
    expect(checkJson(Buffer.from('{"a":{"b":1},"b":2}')).reason).toBeNull();
  });

  it('folds the letter case of non-ASCII keys too (raw UTF-8 or escaped), in objects of few keys', () => {
    expect(checkJson(Buffer.from('{"é":1,"É":2}')).reason).toMatch(/"é" and "É" of one object differ only in letter case/);
    expect(checkJson(Buffer.from('{"straße":1,"STRASSE":2}')).reason).toBeNull(); // toLowerCase: different lengths
    expect(checkJson(Buffer.from('{"\\u00e9":1,"É":2}')).reason).toMatch(/differ only in letter case/);
    expect(checkJson(Buffer.from('{"éa":1,"éb":2}')).reason).toBeNull();
  });
});
