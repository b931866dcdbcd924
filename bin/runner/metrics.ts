/**
 * Prometheus metrics of a runner (prom-client), served on --metrics-port (127.0.0.1 unless --metrics-host):
 * records in / written / dead-lettered / already written / committed, object bytes and objects, retries, lag per
 * partition and invocation (batch) durations.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LagMap } from './lag.ts';
import type { RunnerStats } from './runner.ts';

const COUNTED = {
  recordsIn: ['kafka_s3_records_in_total', 'Records handed to the sink handler'],
  written: ['kafka_s3_records_written_total', 'Records written into data objects'],
  deadLettered: ['kafka_s3_records_dead_lettered_total', 'Records written as dead letters'],
  alreadyWritten: ['kafka_s3_records_already_written_total', 'Records below their partition\'s checkpoint (an earlier delivery wrote them)'],
  filtered: ['kafka_s3_records_filtered_total', 'Records dropped by the filter'],
  tombstonesIgnored: ['kafka_s3_tombstones_ignored_total', 'Tombstones ignored'],
  committed: ['kafka_s3_records_committed_total', 'Records whose offsets were committed'],
  bytes: ['kafka_s3_bytes_written_total', 'Bytes of the objects written'],
  valueBytes: ['kafka_s3_value_bytes_total', 'Bytes of record values handed to the sink'],
  objects: ['kafka_s3_objects_written_total', 'Objects written (data and dead letters)'],
  retries: ['kafka_s3_retries_total', 'Invocations retried'],
  claimConflicts: ['kafka_s3_claim_conflicts_total', 'Invocations that waited for another invocation\'s claim'],
} as const satisfies Partial<Record<keyof RunnerStats, readonly [string, string]>>;

export class RunnerMetrics {
  readonly registry = new Registry();
  private readonly counters = new Map<keyof typeof COUNTED, Counter>();
  private readonly seen = new Map<keyof typeof COUNTED, number>();
  private readonly lag: Gauge<'topic' | 'partition'>;
  private readonly lagTotal: Gauge;
  readonly batchSeconds: Histogram<'outcome'>;
  private server?: Server;

  constructor() {
    for (const [k, [name, help]] of Object.entries(COUNTED) as [keyof typeof COUNTED, readonly [string, string]][]) {
      this.counters.set(k, new Counter({ name, help, registers: [this.registry] }));
      this.seen.set(k, 0);
    }
    this.lag = new Gauge({ name: 'kafka_s3_lag_records', help: 'Records not committed yet, per partition', labelNames: ['topic', 'partition'], registers: [this.registry] });
    this.lagTotal = new Gauge({ name: 'kafka_s3_lag_records_total', help: 'Records not committed yet, all partitions', registers: [this.registry] });
    this.batchSeconds = new Histogram({
      name: 'kafka_s3_batch_duration_seconds', help: 'Duration of one invocation of the sink handler', labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900], registers: [this.registry],
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'kafka_s3_runner_' });
  }

  /** Brings the counters up to the runner's totals. */
  update(s: RunnerStats): void {
    for (const [k, c] of this.counters) {
      const now = s[k];
      const d = now - this.seen.get(k)!;
      if (d > 0) c.inc(d);
      this.seen.set(k, now);
    }
  }

  setLag(lag: LagMap): void {
    let total = 0;
    for (const [k, v] of lag) {
      const [topic, partition] = k.split('\u0000');
      this.lag.set({ topic, partition }, v);
      total += v;
    }
    this.lagTotal.set(total);
  }

  /** Serves GET /metrics; resolves with the address it listens on. */
  async listen(port: number, host: string): Promise<AddressInfo> {
    this.server = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
