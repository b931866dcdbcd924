/**
 * One case of `npm run bench:parallel` in a fresh process (bundled by esbuild like the Lambda): the sink handling
 * the bench event inline (workers = 0, as deployed), or with its partitions split across `workers` worker threads,
 * each running the same sink handler on its share (a partition's records, claims and checkpoints stay in one
 * worker). The main thread does what the Lambda runtime and a dispatcher would: JSON.parse of the event, the split,
 * and the hand-over (each share as JSON text, parsed again in its worker; HANDOVER=clone: structured clone). Prints one JSON line: wall and CPU ms per event (all threads).
 * argv: workers eventFile endpoint accessKey secretKey iterations warmups
 */
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createSinkHandler } from '../lambdas/sink/app.ts';

interface Setup { endpoint: string; accessKeyId: string; secretAccessKey: string }
type Event = { records: Record<string, { offset: number }[]> } & Record<string, unknown>;

function sinkHandler(s: Setup) {
  const client = new S3Client({
    endpoint: s.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true } as never }),
  });
  const handler = createSinkHandler({ env: { BUCKET_NAME: 'bench', FORMAT: process.env.FORMAT ?? 'jsonl', COMPRESSION: process.env.COMPRESSION ?? 'zstd', S3_ENDPOINT: s.endpoint }, s3: client });
  const ctx = { functionName: 'bench', awsRequestId: 'bench' } as never;
  return async (event: Event) => {
    const r = await handler(event, ctx);
    if (r.written !== r.recordsIn) throw new Error(`wrote ${r.written} of ${r.recordsIn}`);
    return r.recordsIn;
  };
}

if (!isMainThread) {
  const handle = sinkHandler(workerData as Setup);
  parentPort!.on('message', (msg: Event | string) => {
    handle(typeof msg === 'string' ? (JSON.parse(msg) as Event) : msg).then((n) => parentPort!.postMessage({ n }), (err) => parentPort!.postMessage({ error: String(err) }));
  });
} else {
  const [workersText, eventFile, endpoint, accessKeyId, secretAccessKey, iterationsText, warmupsText] = process.argv.slice(2);
  const workers = Number(workersText);
  const setup: Setup = { endpoint, accessKeyId, secretAccessKey };
  const text = readFileSync(eventFile, 'utf8');
  const pool = Array.from({ length: workers }, () => new Worker(new URL(import.meta.url), { workerData: setup }));
  const ask = (w: Worker, event: Event) => new Promise<number>((resolve, reject) => {
    w.once('message', (m: { n?: number; error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m.n!)));
    // HANDOVER=json: the share as JSON text, parsed again in the worker (a flat string copies cheaply); clone: the
    // parsed objects by structured clone.
    w.postMessage(process.env.HANDOVER === 'clone' ? event : JSON.stringify(event));
  });
  const inline = workers === 0 ? sinkHandler(setup) : undefined;
  const base = (Date.now() % 100_000_000) * 100_000;
  let round = 0;
  let records = 0;
  const run = async () => {
    const event = JSON.parse(text) as Event;
    const shift = base + ++round * 10_000;
    for (const list of Object.values(event.records)) for (const rec of list) rec.offset += shift;
    if (inline) {
      records = await inline(event);
      return;
    }
    // Partitions dealt to the workers by size, largest first, each to the least loaded one.
    const shares = pool.map(() => ({ ...event, records: {} as Event['records'], size: 0 }));
    for (const [tp, list] of Object.entries(event.records).sort((a, b) => b[1].length - a[1].length)) {
      const share = shares.reduce((a, b) => (b.size < a.size ? b : a));
      share.records[tp] = list;
      share.size += list.length;
    }
    const counts = await Promise.all(shares.filter((s) => s.size > 0).map((s, i) => ask(pool[i], { ...s, size: undefined } as never)));
    records = counts.reduce((a, b) => a + b, 0);
  };
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let i = 0; i < Number(warmupsText); i++) await run();
  const n = Number(iterationsText);
  const walls: number[] = [];
  const c0 = cpuMs();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    walls.push(performance.now() - t);
  }
  const cpu = (cpuMs() - c0) / n;
  walls.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ records, cpuMs: cpu, wallMs: walls[walls.length >> 1] })}\n`);
  await Promise.all(pool.map((w) => w.terminate()));
}
