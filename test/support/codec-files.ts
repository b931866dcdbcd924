/** What the compactor's format tests share: a schema of every column type with hostile values, and codec file helpers. */
import { Readable } from 'node:stream';
import type { Codec, Row, StoredFile } from '../../lambdas/compactor/codec.ts';
import { compressObject } from '../../lambdas/shared/compress.ts';
import type { SinkConfig } from '../../lambdas/shared/config.ts';

/** Every column type the schema file allows, nullable and not, and a field named like a reserved word. */
export const ALL_TYPES_SCHEMA = JSON.stringify({
  type: 'record', name: 'All', fields: [
    { name: 's', type: ['null', 'string'], default: null },
    { name: 'es', type: 'string' },
    { name: 'b', type: ['null', 'bytes'], default: null },
    { name: 'f', type: ['null', 'float'], default: null },
    { name: 'd', type: 'double' },
    { name: 'i', type: ['null', 'int'], default: null },
    { name: 'l', type: ['null', 'long'], default: null },
    { name: 'bo', type: ['null', 'boolean'], default: null },
    { name: 'dt', type: ['null', { type: 'int', logicalType: 'date' }], default: null },
    { name: 'tu', type: ['null', { type: 'long', logicalType: 'timestamp-micros' }], default: null },
    { name: 'tm', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'type', type: 'string' },
    { name: 'null', type: ['null', 'string'], default: null },
  ],
});

/** A value's JSON text for row i: nulls, empty strings and bytes, extremes, awkward CSV text. */
export function allTypesValue(i: number): string {
  const pick = <T>(xs: T[]) => xs[i % xs.length];
  const parts = [
    `"s":${pick(['null', '""', JSON.stringify(' a,"b"\r\nc\n'), JSON.stringify('ünï ""'), JSON.stringify('"'), JSON.stringify('\r'), JSON.stringify(',')])}`,
    `"es":${pick(['""', '"x"', JSON.stringify('\n'), JSON.stringify(' ')])}`,
    `"b":${pick(['null', '""', '"AAEC/w=="', '"IiIi"'])}`,
    `"f":${pick(['null', '0.1', '-3.4e38', '1e-45', '16777217', '-0'])}`,
    `"d":${pick(['0.1', '-0', '1.7976931348623157e308', '5e-324', '-1'])}`,
    `"i":${pick(['null', '-2147483648', '2147483647', '0'])}`,
    `"l":${pick(['null', '9223372036854775807', '-9223372036854775808', '9007199254740993', '0'])}`,
    `"bo":${pick(['null', 'true', 'false'])}`,
    `"dt":${pick(['null', '"0001-01-01"', '"9999-12-31"', '-1', '0'])}`,
    `"tu":${pick(['null', '"1969-12-31T23:59:59.999999Z"', '"0001-01-01T00:00:00.000001Z"', '"9999-12-31T23:59:59.999999Z"'])}`,
    `"tm":${pick(['-62135596800000', '253402300799999', '-1', '0', '"1969-12-31T23:59:59.999Z"'])}`,
    `"type":${pick(['"record"', '""', '"null"'])}`,
    `"null":${pick(['null', '"null"', '""'])}`,
  ];
  return `{${parts.join(',')}}`;
}

/** A file as the compactor reads an earlier one: streamed in chunks of `chunk` bytes (rows, blocks and headers cross
 * their boundaries), or by ranges, which must lie inside it. */
export function stored(bytes: Buffer, chunk = 7): StoredFile {
  return {
    bytes: bytes.length,
    stream: async () => Readable.from((function* () {
      for (let i = 0; i < bytes.length; i += chunk) yield Buffer.from(bytes.subarray(i, i + chunk));
    })()),
    range: async (start, end) => {
      if (start < 0 || end > bytes.length || start >= end) throw new Error(`range ${start}-${end} outside 0-${bytes.length}`);
      return Buffer.from(bytes.subarray(start, end));
    },
  };
}

/** The file a codec's body makes of `rows` (compressed as the compactor's file writer does). */
export async function fileOf(codec: Codec, cfg: SinkConfig, rows: AsyncIterable<Row> | Iterable<Row>, targetBytes = 256 << 20): Promise<Buffer> {
  const body = codec.body(targetBytes);
  const parts: Buffer[] = [];
  for await (const r of rows) {
    body.add(r);
    if (body.ready) parts.push(body.take());
  }
  parts.push(body.end());
  const whole = Buffer.concat(parts);
  return codec.streamCompressed ? compressObject(cfg, whole) : whole;
}

export async function collect(it: AsyncIterable<Row[]>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const rows of it) out.push(...rows);
  return out;
}
