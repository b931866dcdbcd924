/**
 * Hostile objects read back (readObject / avroRows) without Kafka: errors must name the object, nothing may be dropped
 * or invented silently, and a small object must not hang the reader or take memory out of proportion.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { foreignLayout, sinkLayout } from '../../lambdas/replay/layout.ts';
import { readObject } from '../../lambdas/replay/read.ts';
import { REPO_ROOT } from '../support/versitygw.ts';

const KEY = 'topics/orders/partition=0/orders+0+00000000000000000000.jsonl';

const meta = (over: Record<string, string>) => ({
  'kafka-s3-format': 'jsonl', 'kafka-s3-compression': 'none', 'kafka-s3-fields': 'key,value,headers,topic,partition,offset,timestamp',
  'kafka-s3-encodings': 'key=text,value=json,headers=text', 'kafka-s3-envelope': 'true', 'kafka-topic': 'orders', 'kafka-partition': '0',
  'kafka-start-offset': '0', ...over,
});

/** Zigzag varint of a non-negative long (Avro). */
function avroLong(n: bigint): Buffer {
  let z = n * 2n;
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}
const avroString = (s: string) => Buffer.concat([avroLong(BigInt(Buffer.byteLength(s))), Buffer.from(s)]);

/** Runs `code` (an ES module body importing from the repo) in a child node with a time and heap limit. */
async function inChild(code: string, timeoutMs = 10_000, heapMb = 256) {
  const dir = await mkdtemp(join(tmpdir(), 'attack-child-'));
  const file = join(dir, 'child.ts');
  await writeFile(file, code);
  const started = Date.now();
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, file], { cwd: REPO_ROOT, timeout: timeoutMs, encoding: 'utf8' });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}`.slice(-600), ms: Date.now() - started };
}

describe('replay attack: hostile objects', () => {
  it('sink jsonl without the envelope, text values: a line that is not JSON is an error naming the object', async () => {
    const layout = sinkLayout(KEY, meta({ 'kafka-s3-envelope': 'false', 'kafka-s3-fields': 'value', 'kafka-s3-encodings': 'key=text,value=text,headers=text' }));
    await expect(readObject(layout, Buffer.from('"ok"\n{"trunc\n'), KEY)).rejects.toThrow(KEY);
  });

  it('sink jsonl without the envelope, text values: a line that is a JSON number is not a text value (error, not "5")', async () => {
    const layout = sinkLayout(KEY, meta({ 'kafka-s3-envelope': 'false', 'kafka-s3-fields': 'value', 'kafka-s3-encodings': 'key=text,value=text,headers=text' }));
    await expect(readObject(layout, Buffer.from('"ok"\n5\n'), KEY)).rejects.toThrow(KEY);
  });

  it('sink jsonl without the envelope, JSON values: a line that is not JSON is an error', async () => {
    const layout = sinkLayout(KEY, meta({ 'kafka-s3-envelope': 'false', 'kafka-s3-fields': 'value' }));
    await expect(readObject(layout, Buffer.from('{"a":1}\n{"a":\n'), KEY)).rejects.toThrow(KEY);
  });

  it('sink jsonl: fewer records than the object\'s kafka-record-count is an error', async () => {
    // The sink's metadata says 3 records; a truncated/replaced body holds 2.
    const layout = sinkLayout(KEY, meta({ 'kafka-s3-envelope': 'false', 'kafka-s3-fields': 'value', 'kafka-record-count': '3' }));
    await expect(readObject(layout, Buffer.from('{"a":1}\n{"a":2}\n'), KEY)).rejects.toThrow(KEY);
  });

  it('foreign .jsonl: a line that is not JSON is an error naming the object and line', async () => {
    const layout = foreignLayout('in/a.jsonl', { csvHeader: true })!;
    await expect(readObject(layout, Buffer.from('{"n":1}\n{"n":2, trunc\n'), 'in/a.jsonl')).rejects.toThrow('in/a.jsonl');
  });

  it('sink csv (no header row), text values: a malformed row ("abc"def) is an error, not two records', async () => {
    const layout = sinkLayout(KEY, meta({ 'kafka-s3-format': 'csv', 'kafka-s3-fields': 'value', 'kafka-s3-encodings': 'key=text,value=text,headers=text' }));
    const read = readObject(layout, Buffer.from('"abc"def\r\nnext\r\n'), KEY);
    await expect(read.then((r) => r.records.map((x) => x.value!.toString()))).rejects.toThrow(KEY);
  });

  it('envelope: a line whose partition is not the object\'s partition is an error (not sent to another partition)', async () => {
    const layout = sinkLayout(KEY, meta({}));
    const line = '{"key":"k","value":{"a":1},"headers":[],"topic":"orders","partition":2,"offset":5,"timestamp":"2026-01-01T10:00:00.000Z"}\n';
    await expect(readObject(layout, Buffer.from(line), KEY)).rejects.toThrow(KEY);
  });

  it('envelope: offsets next to 2^63 stay exact', async () => {
    const layout = sinkLayout(KEY, meta({ 'kafka-start-offset': '9223372036854775806' }));
    const lines = ['9223372036854775806', '9223372036854775807'].map((o) => `{"key":null,"value":{"o":${o}},"headers":[],"topic":"orders","partition":0,"offset":${o},"timestamp":"2026-01-01T10:00:00.000Z"}`).join('\n');
    const r = await readObject(layout, Buffer.from(lines), KEY);
    expect(r.records.map((x) => [x.offset, x.value!.toString()])).toEqual([[9223372036854775806n, '{"o":9223372036854775806}'], [9223372036854775807n, '{"o":9223372036854775807}']]);
  });

  it('foreign Avro: a 100-byte file whose block claims 2^40 empty records fails fast instead of hanging / exhausting memory', async () => {
    const schema = JSON.stringify({ type: 'record', name: 'r', fields: [] });
    const sync = Buffer.alloc(16, 7);
    const file = Buffer.concat([
      Buffer.from('Obj\x01', 'latin1'), avroLong(2n), avroString('avro.schema'), avroString(schema), avroString('avro.codec'), avroString('null'), avroLong(0n),
      sync, avroLong(2n ** 40n), avroLong(0n), sync,
    ]);
    expect(file.length).toBeLessThan(120);
    const r = await inChild(`
      import { avroRows } from '${REPO_ROOT}lambdas/replay/read.ts';
      const file = Buffer.from('${file.toString('base64')}', 'base64');
      try { await avroRows(file, 'in/bomb.avro'); console.log('READ'); } catch (e) { console.log('ERROR ' + e.message); }
    `);
    expect({ status: r.status, signal: r.signal, errored: r.out.includes('ERROR in/bomb.avro: a block claims 1099511627776 records in 0 bytes') }, r.out).toEqual({ status: 0, signal: null, errored: true });
  }, 20_000);

  it('foreign .jsonl.zst: a few-KB object that decompresses past the limit is refused without taking its size in memory', async () => {
    // One JSON line of 300 MB (over MAX_OBJECT_TEXT_BYTES, 256 MiB), compressed to a few KB.
    const big = Buffer.alloc(300 << 20, 0x61);
    big.write('{"a":"', 0);
    big.write('"}', big.length - 2);
    const zst = zstdCompressSync(big);
    expect(zst.length).toBeLessThan(64 << 10);
    const r = await inChild(`
      import { foreignLayout } from '${REPO_ROOT}lambdas/replay/layout.ts';
      import { readObject } from '${REPO_ROOT}lambdas/replay/read.ts';
      const body = Buffer.from('${zst.toString('base64')}', 'base64');
      let peak = 0;
      const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
      try { const r = await readObject(foreignLayout('in/x.jsonl.zst', { csvHeader: true }), body, 'in/x.jsonl.zst'); peak = Math.max(peak, process.memoryUsage().rss); console.log('RECORDS ' + r.records.length); }
      catch (e) { console.log('ERROR ' + e.message); }
      clearInterval(t);
      console.log('PEAK_MB ' + Math.round(peak / 1048576));
    `, 25_000, 4096);
    const peak = Number(/PEAK_MB (\d+)/.exec(r.out)?.[1] ?? 'NaN');
    console.log(`zst ${zst.length} bytes → ${r.out.replace(/\s+/g, ' ')}`);
    expect(r.out, r.out).toContain('ERROR in/x.jsonl.zst: decompresses to more than 256 MiB: the replay reads objects whole; split it');
    expect(peak, r.out).toBeLessThan(400);
  }, 60_000);
});
