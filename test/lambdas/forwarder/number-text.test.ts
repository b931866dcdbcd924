import { describe, expect, it } from 'vitest';
import { decimalParts, fractionDigits, integerDigits, numberText, toDouble, toInteger } from '../../../lambdas/forwarder/number-text.ts';

const raw = (text: string) => (JSON as unknown as { rawJSON(t: string): unknown }).rawJSON(text);

describe('numberText: the JSON text of each kind of number value', () => {
  it.each([
    ['a number', 19.99, '19.99'],
    ['a negative zero', -0, '0'],
    ['a large double', 1e21, '1e+21'],
    ['a BigInt', 9_007_199_254_740_993n, '9007199254740993'],
    ['a rawJSON literal', raw('12345678901234567890.12'), '12345678901234567890.12'],
    ['a rawJSON beyond the double range', raw('1e400'), '1e400'],
  ])('%s', (_name, value, text) => {
    expect(numberText(value)).toBe(text);
  });

  it.each([['a string', '12'], ['null', null], ['an object', { a: 1 }], ['Infinity', Infinity], ['NaN', NaN], ['rawJSON of a string', raw('"12"')]])(
    'is undefined for %s', (_name, value) => {
      expect(numberText(value)).toBeUndefined();
    },
  );
});

describe('decimalParts: exact digits and exponent, without expanding the exponent', () => {
  it.each([
    ['0', { negative: false, digits: '', exponent: 0 }],
    ['-0.000', { negative: false, digits: '', exponent: 0 }],
    ['12.50', { negative: false, digits: '125', exponent: -1 }],
    ['-1200', { negative: true, digits: '12', exponent: 2 }],
    ['0.0012', { negative: false, digits: '12', exponent: -4 }],
    ['1.5e3', { negative: false, digits: '15', exponent: 2 }],
    ['1E-400', { negative: false, digits: '1', exponent: -400 }],
    ['12345678901234567890.12', { negative: false, digits: '1234567890123456789012', exponent: -2 }],
    ['1e99999999999999999999999', { negative: false, digits: '1', exponent: 1e23 }],
    [`1e${'9'.repeat(400)}`, { negative: false, digits: '1', exponent: Infinity }],
    [`1e-${'9'.repeat(400)}`, { negative: false, digits: '1', exponent: -Infinity }],
  ])('%s', (text, parts) => {
    expect(decimalParts(text)).toEqual(parts);
  });

  it.each(['', '01', '1.', '.5', '+1', '1e', '0x10', ' 1', 'NaN', 'Infinity', '1_000'])('refuses %j, which is not a JSON number', (text) => {
    expect(decimalParts(text)).toBeUndefined();
  });

  it('counts digits before and after the point on the exact value', () => {
    // Prepare
    const cases = ['123.4500', '0.001', '1e3', '12345678901234567890.12', '0', '1e-400'];

    // Act
    const counts = cases.map((t) => [integerDigits(decimalParts(t)!), fractionDigits(decimalParts(t)!)]);

    // Assess
    expect(counts).toEqual([[3, 2], [0, 3], [4, 0], [20, 2], [0, 0], [0, 400]]);
  });
});

describe('toInteger', () => {
  it.each([
    ['9223372036854775807', 9_223_372_036_854_775_807n],
    ['-9223372036854775808', -9_223_372_036_854_775_808n],
    ['1.0e3', 1000n],
    ['0.000', 0n],
    ['1.5', 'fraction'],
    ['1e-400', 'fraction'],
    ['1e400', 'huge'],
    ['1e99999999999999999999999', 'huge'],
    [`1e${'9'.repeat(400)}`, 'huge'],
    [`1e-${'9'.repeat(400)}`, 'fraction'],
    ['100000000000000000000000', 'huge'],
  ])('%s → %s', (text, expected) => {
    expect(toInteger(decimalParts(text)!)).toBe(expected);
  });
});

describe('toDouble', () => {
  it.each([
    ['0.1234567890123456789', false, 0.12345678901234568],
    ['1e308', false, 1e308],
    ['1e400', false, 'overflow'],
    ['-1e400', false, 'overflow'],
    ['1e-400', false, 'underflow'],
    ['0.0', false, 0],
    ['5e-324', false, 5e-324],
    ['3.4e38', true, Math.fround(3.4e38)],
    ['3.5e38', true, 'overflow'],
    ['1e-50', true, 'underflow'],
  ] as const)('%s (float: %s) → %s', (text, float, expected) => {
    expect(toDouble(text, decimalParts(text)!, float)).toBe(expected);
  });
});
