/**
 * The JSON check's top-level names (lambdas/shared/json-validate.ts): values of a topic mostly share their field
 * names, so the list of the last object that passed is handed out again, and its key checks skipped, when the keys
 * are byte for byte the same. That memory must never change an outcome: over generated sequences in which values
 * repeat, differ by one key, collide by case or repeat a key, every result equals that of a check without it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
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
