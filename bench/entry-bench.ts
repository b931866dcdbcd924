/**
 * `node --expose-gc bench/entry-bench.ts [format:compression …]` — the sink's two entries A/B in one process, rounds
 * interleaved (so machine load hits both alike): the runner's 10,000 order records handed over as the Lambda-shaped
 * event (toKafkaEvent → decodeEvent: base64, header byte arrays) or decoded (toSinkRecords → decodeRecords), into an
 * in-memory bucket. CPU time (process.cpuUsage, user + system) per batch and per GB of values: median (min–max).
 * Env: ENTRY_ROUNDS (15), ENTRY_RECORDS (10,000), NO_GC=1: no full collection forced before each batch. The forced
 * one starts every batch from the same heap, but its sweeping goes on in V8's threads during the batch and is counted
 * in it (CPU of all threads): about a third more CPU for jsonl+gzip.
 */
import { toKafkaEvent, toSinkRecords, type RunnerRecord } from '../bin/runner/event.ts';
import { sampleOrder } from '../bin/runner/sample-source.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { MemoryBucket } from '../test/support/memory-bucket.ts';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const ROUNDS = Number(process.env.ENTRY_ROUNDS ?? 15);
const N = Number(process.env.ENTRY_RECORDS ?? 10_000);
const cases = process.argv.slice(2).length ? process.argv.slice(2) : ['jsonl:gzip', 'parquet:zstd'];
const meta = { eventSource: 'SelfManagedKafka' as const, bootstrapServers: 'bench' };
const context = { functionName: 'bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 600_000 } as never;
const quiet = new Proxy({}, { get: () => () => undefined });

function batch(round: number): RunnerRecord[] {
  return Array.from({ length: N }, (_, j) => {
    const i = round * N + j;
    return {
      topic: 'orders', partition: j % 3, offset: BigInt(i), timestamp: Date.UTC(2026, 0, 1) + i, timestampType: 'CREATE_TIME',
      key: Buffer.from(`cust-${i % 5000}`), value: Buffer.from(JSON.stringify(sampleOrder(i, Date.UTC(2026, 0, 1) + i))),
      headers: [{ key: 'trace-id', value: Buffer.from(`t-${i}`) }],
    };
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };

console.log(`| format | entry | CPU ms / ${N.toLocaleString('en-US')}-record batch | CPU-s/GB of values |`);
console.log('|---|---|---:|---:|');
for (const c of cases) {
  const [format, compression] = c.split(':');
  const sink = createSinkHandler({ env: { BUCKET_NAME: 'bench', FORMAT: format, COMPRESSION: compression }, s3: new MemoryBucket() as never, logger: quiet as never });
  const ms: Record<'event' | 'decoded', number[]> = { event: [], decoded: [] };
  let gb = 0;
  for (let round = 0; round < 2 * ROUNDS + 4; round++) {
    const records = batch(round); // built outside the measurement: what the consumer hands over in both cases
    gb = records.reduce((s, r) => s + (r.value?.length ?? 0), 0) / 1e9;
    const which = round % 2 === 0 ? 'event' : 'decoded';
    if (!process.env.NO_GC) (globalThis as { gc?: () => void }).gc?.();
    const t = cpu();
    const r = which === 'event' ? await sink(toKafkaEvent(records, meta), context) : await sink(toSinkRecords(records, meta), context);
    const spent = cpu() - t;
    if (r.written + r.deadLettered !== N) throw new Error(`wrote ${r.written} of ${N}`);
    if (round >= 4) ms[which].push(spent);
  }
  for (const which of ['event', 'decoded'] as const) {
    const xs = ms[which];
    console.log(`| ${format}+${compression} | ${which} | ${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}) | ${(median(xs) / 1000 / gb).toFixed(1)} |`);
  }
}
