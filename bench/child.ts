/**
 * One benchmark case in a fresh process, bundled by esbuild like the Lambda (see sink-bench.ts).
 * argv: mode (throughput|rss) format compression eventFile endpoint accessKey secretKey iterations serverPid warmups
 * Prints one JSON line: CPU ms per event of this process (user + system, all its threads: V8's GC and compiler
 * threads) and of the S3 server (/proc/<serverPid>/stat), both over the timed
 * events taken together (no forced GC in between: each event pays for the garbage it leaves, as in a long-lived
 * function), wall ms per event, and the peak RSS.
 */
import { readFileSync } from 'node:fs';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { compressObject } from '../lambdas/shared/compress.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';
import { processCpuSeconds } from './stats.ts';

const [mode, format, compression, eventFile, endpoint, accessKeyId, secretAccessKey, iterationsText, serverPidText, warmupsText] = process.argv.slice(2);
const text = readFileSync(eventFile, 'utf8');
const bucket = 'bench';
const serverPid = Number(serverPidText) || undefined;
const client = new S3Client({
  endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey },
  requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } as never }),
});

interface EventShape { records: Record<string, { topic: string; partition: number; offset: number; value: string | null }[]> }
let records = 0;
let run: () => Promise<void>;
if (format === 'floor') {
  // The floor: what any sink of this event must do — parse the event, base64-decode every value, and upload the
  // partitions' output with the SDK's checksum. The output is the values compressed (zstd) once before timing, so
  // the floor uploads what a compressed format would and no format can beat it by compressing.
  const first = JSON.parse(text) as EventShape;
  const bodies = Object.values(first.records).map((list) =>
    compressObject({ format: 'jsonl', compression: 'zstd', compressionLevel: undefined }, Buffer.concat(list.map((r) => (r.value === null ? Buffer.alloc(0) : Buffer.from(r.value, 'base64'))))));
  run = async () => {
    const event = JSON.parse(text) as EventShape;
    const lists = Object.values(event.records);
    let n = 0;
    let bytes = 0;
    for (const list of lists) {
      for (const r of list) {
        if (r.value !== null) bytes += Buffer.from(r.value, 'base64').length;
        n++;
      }
    }
    if (bytes === 0) throw new Error('no values');
    records = n;
    await Promise.all(lists.map((list, i) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: `floor/${list[0].topic}-${list[0].partition}`, Body: bodies[i] }))));
  };
} else {
  // "<format>+sql": the same format with TRANSFORM_SQL (BENCH_SQL, sink-bench.ts).
  const [plain, sql] = format.endsWith('+sql') ? [format.slice(0, -4), process.env.BENCH_SQL] : [format, undefined];
  const handler = createSinkHandler({
    env: {
      BUCKET_NAME: bucket, FORMAT: plain, COMPRESSION: compression, S3_ENDPOINT: endpoint,
      ...(plain === 'text' || plain === 'bytes' ? { VALUE_ENCODING: 'text' } : {}),
      ...(sql ? { TRANSFORM_SQL: sql } : {}),
    },
    s3: client,
  });
  const ctx = { functionName: 'bench', awsRequestId: 'bench' } as never;
  // Offsets never seen by the bucket before (an earlier process of this bench wrote other ones).
  const base = (Date.now() % 100_000_000) * 100_000;
  let round = 0;
  run = async () => {
    // Each run is the partitions' next batch (offsets move on), as in steady state: a repeat of the same offsets would
    // be dropped as already written by the checkpoints (README, "Delivery guarantees"). The checkpoint requests count.
    // The event's JSON.parse counts too: the Lambda runtime does it in the function's process, on its vCPU.
    const event = JSON.parse(text) as EventShape;
    const shift = base + ++round * 10_000;
    for (const list of Object.values(event.records)) for (const rec of list) rec.offset += shift;
    const r = await handler(event, ctx);
    records = r.recordsIn;
    if (r.written + r.filtered !== r.recordsIn || r.deadLettered > 0) throw new Error(`wrote ${r.written} and filtered ${r.filtered} of ${r.recordsIn}`);
  };
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
let result = { cpuMs: Number.NaN, serverCpuMs: Number.NaN, wallMs: Number.NaN };
if (mode === 'rss') {
  // A cold invocation: the CPU of the whole process up to the end of its first event (module load, config, the
  // first event), as a new Lambda container spends it.
  await run();
  result = { ...result, cpuMs: cpuMs() };
} else {
  // Warm-up events first: a warm function has long since compiled its hot paths (V8's optimizing compiler runs on
  // threads of its own, whose CPU would count in the first events).
  for (let i = 0; i < Number(warmupsText ?? 10); i++) await run();
  const n = Number(iterationsText);
  const [c0, s0, t0] = [cpuMs(), processCpuSeconds(serverPid), performance.now()];
  for (let i = 0; i < n; i++) await run();
  result = { cpuMs: (cpuMs() - c0) / n, serverCpuMs: ((processCpuSeconds(serverPid) - s0) * 1000) / n, wallMs: (performance.now() - t0) / n };
}
process.stdout.write(`${JSON.stringify({ records, ...result, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
