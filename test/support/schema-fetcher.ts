/**
 * Registry schemas for unit tests of decoding and columns: a SchemaFetcher over a map (the unit under test is the
 * decoding; test/integration/schema-registry.test.ts fetches from real registries), a rich Avro schema with a value
 * and what it decodes to, and Avro encoding by avsc (an independent encoder) with exact longs.
 */
import avro from 'avsc';
import { ExactLong } from '../../lambdas/shared/encode/avro.ts';
import { RegistryUnavailableError } from '../../lambdas/shared/registry/index.ts';
import type { MissingSchema, RawSchema, SchemaFetcher } from '../../lambdas/shared/registry/client.ts';

export class MapFetcher implements SchemaFetcher {
  readonly name = 'map';
  readonly calls: string[] = [];
  down = false;
  readonly schemas: Map<string, RawSchema>;
  constructor(schemas: Map<string, RawSchema>) {
    this.schemas = schemas;
  }
  async fetch(id: string): Promise<RawSchema | MissingSchema> {
    this.calls.push(id);
    if (this.down) throw new RegistryUnavailableError('schema registry map did not answer: connect ECONNREFUSED');
    return this.schemas.get(id) ?? { missing: 'the schema registry map does not have it' };
  }
}

export const ORDER_V1 = {
  type: 'record', name: 'Order', namespace: 'com.acme', fields: [
    { name: 'id', type: 'long' },
    { name: 'customer', type: { type: 'record', name: 'Customer', fields: [{ name: 'name', type: 'string' }, { name: 'tier', type: { type: 'enum', name: 'Tier', symbols: ['GOLD', 'SILVER'] } }] } },
    { name: 'items', type: { type: 'array', items: { type: 'record', name: 'Item', fields: [{ name: 'sku', type: 'string' }, { name: 'qty', type: 'int' }] } } },
    { name: 'attrs', type: { type: 'map', values: 'string' } },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'ship', type: ['null', 'Customer'], default: null },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'at_us', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'at_ns', type: { type: 'long', logicalType: 'timestamp-nanos' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'ref', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'hash', type: { type: 'fixed', name: 'MD5', size: 4 } },
    { name: 'ratio', type: 'double' },
    { name: 'f', type: 'float' },
    { name: 'ok', type: 'boolean' },
    { name: 'raw', type: 'bytes' },
  ],
};

/** avsc, an independent encoder: logical types stripped (their underlying values given), longs exact. */
export function avroType(schema: unknown): avro.Type {
  // {"type": "long"} must become "long": avsc takes its registry's long only for the plain name.
  const strip = (s: unknown): unknown => {
    if (Array.isArray(s)) return s.map(strip);
    if (!s || typeof s !== 'object') return s;
    const o = Object.fromEntries(Object.entries(s).filter(([k]) => !['logicalType', 'precision', 'scale'].includes(k)).map(([k, v]) => [k, strip(v)]));
    return Object.keys(o).length === 1 && typeof o.type === 'string' ? o.type : o;
  };
  return avro.Type.forSchema(strip(schema) as avro.Schema, { registry: { long: ExactLong } as never, wrapUnions: true });
}

export const confluent = (id: number, payload: Buffer) => Buffer.concat([Buffer.from([0, id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]), payload]);

export const order = {
  id: 2n ** 62n + 7n,
  customer: { name: 'Zoë "Z"\n', tier: 'SILVER' },
  items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: -2 }],
  attrs: { x: 'y', 'a b': '' },
  note: { string: 'hi' },
  ship: { 'com.acme.Customer': { name: 'S', tier: 'GOLD' } },
  price: Buffer.from([0xff, 0x85]), // -123 → -1.23
  at: 1_767_225_600_123,
  at_us: 1_767_225_600_123_456,
  at_ns: 1_767_225_600_123_456_789n,
  day: 20_454,
  ref: '0f8fad5b-d9cb-469f-a165-70867728950e',
  hash: Buffer.from([1, 2, 3, 4]),
  ratio: Number.NaN,
  f: 0.5,
  ok: true,
  raw: Buffer.from([0, 255]),
};

export const expected = {
  id: '__BIG__',
  customer: { name: 'Zoë "Z"\n', tier: 'SILVER' },
  items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: -2 }],
  attrs: { x: 'y', 'a b': '' },
  note: 'hi',
  ship: { name: 'S', tier: 'GOLD' },
  price: -1.23,
  at: '2026-01-01T00:00:00.123Z',
  at_us: '2026-01-01T00:00:00.123456Z',
  at_ns: '2026-01-01T00:00:00.123456789Z',
  day: '2026-01-01',
  ref: '0f8fad5b-d9cb-469f-a165-70867728950e',
  hash: 'AQIDBA==',
  ratio: 'NaN',
  f: 0.5,
  ok: true,
  raw: 'AP8=',
};

