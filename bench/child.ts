/**
 * One benchmark case in a fresh process, bundled by esbuild like the Lambda (see sink-bench.ts).
 * argv: mode (throughput|rss) format compression eventFile endpoint accessKey secretKey iterations
 */
import { readFileSync } from 'node:fs';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { decodeEvent } from '../lambdas/shared/decode.ts';
import { createSinkHandler } from '../lambdas/sink/app.ts';

const [mode, format, compression, eventFile, endpoint, accessKeyId, secretAccessKey, iterationsText] = process.argv.slice(2);
const text = readFileSync(eventFile, 'utf8');
const bucket = 'bench';
const client = new S3Client({
  endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey },
  requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } as never }),
});

let records = 0;
let run: () => Promise<void>;
if (format === 'floor') {
  // The floor: what any sink must do — parse the event, decode the records, upload the raw value bytes.
  run = async () => {
    const decoded = decodeEvent(JSON.parse(text));
    records = decoded.recordCount;
    await Promise.all(decoded.partitions.map((p) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: `floor/${p.topic}-${p.partition}`, Body: Buffer.concat(p.records.map((r) => r.value!)) }))));
  };
} else {
  const handler = createSinkHandler({
    env: {
      BUCKET_NAME: bucket, FORMAT: format, COMPRESSION: compression, S3_ENDPOINT: endpoint,
      ...(format === 'text' || format === 'bytes' ? { VALUE_ENCODING: 'text' } : {}),
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
    const event = JSON.parse(text) as { records: Record<string, { offset: number }[]> };
    const shift = base + ++round * 10_000;
    for (const list of Object.values(event.records)) for (const rec of list) rec.offset += shift;
    const r = await handler(event, ctx);
    records = r.recordsIn;
    if (r.written !== r.recordsIn) throw new Error(`wrote ${r.written} of ${r.recordsIn}`);
  };
}

const times: number[] = [];
if (mode === 'rss') {
  await run();
} else {
  for (let i = 0; i < 3; i++) await run();
  for (let i = 0; i < Number(iterationsText); i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
}
times.sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({
  records, ms: times.length ? times[Math.floor(times.length / 2)] : NaN, peakRssMb: process.resourceUsage().maxRSS / 1024,
})}\n`);
