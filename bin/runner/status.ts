/**
 * The live status line: redrawn every second on a terminal (records, records/s over the last seconds, MB, objects,
 * dead letters, retries, lag per partition), so that it is true when the runner is idle too; a plain line every
 * 5 s otherwise. Notes (warnings, a failed batch) print as one line above it, and the line is drawn again.
 */
import { tpName, type LagMap } from './lag.ts';
import type { RunnerStats } from './runner.ts';

const n = (x: number) => x.toLocaleString('en-US');
const mb = (x: number) => `${(x / 1e6).toFixed(2)} MB`;

export class StatusLine {
  private stats?: RunnerStats;
  private lag?: LagMap;
  private timer?: NodeJS.Timeout;
  private drawn = false;
  private lastPlain = 0;
  private readonly samples: { t: number; committed: number; bytes: number }[] = [];
  private readonly write: (s: string) => void;
  readonly tty: boolean;
  private readonly quiet: boolean;

  constructor(o: { tty: boolean; quiet: boolean; write: (s: string) => void }) {
    this.tty = o.tty;
    this.quiet = o.quiet;
    this.write = o.write;
  }

  start(): void {
    if (this.quiet) return;
    this.timer = setInterval(() => this.draw(), this.tty ? 1000 : 5000).unref();
  }

  update(s: RunnerStats): void {
    this.stats = s;
  }

  setLag(lag: LagMap | undefined): void {
    if (lag) this.lag = lag;
  }

  /** The line as it stands (exported for tests and the plain log). */
  line(now = Date.now()): string {
    const s = this.stats;
    if (!s) return 'starting…';
    this.samples.push({ t: now, committed: s.committed, bytes: s.valueBytes });
    while (this.samples.length > 2 && now - this.samples[0].t > 5000) this.samples.shift();
    const first = this.samples[0];
    const dt = (now - first.t) / 1000;
    // Over the last 5 s (0 when idle); until there are two samples, since the start.
    const since = dt > 0.5 ? dt : (now - s.startedAt) / 1000;
    const rate = since > 0 ? (dt > 0.5 ? s.committed - first.committed : s.committed) / since : 0;
    const mbs = since > 0 ? (dt > 0.5 ? s.valueBytes - first.bytes : s.valueBytes) / 1e6 / since : 0;
    const parts = [
      `${n(s.committed)} records`, `${n(Math.round(rate))} rec/s`, `${mb(s.valueBytes)} (${mbs.toFixed(1)} MB/s)`, `${n(s.objects)} objects`,
      `${n(s.deadLettered)} dead letters`,
    ];
    if (s.alreadyWritten > 0) parts.push(`${n(s.alreadyWritten)} already written`);
    if (s.retries > 0) parts.push(`${n(s.retries)} retries`);
    if (this.lag) {
      let total = 0;
      for (const v of this.lag.values()) total += v;
      const each = [...this.lag.entries()].filter(([, v]) => v > 0).map(([k, v]) => `${tpName(k)} ${n(v)}`);
      const shown = each.length > 4 ? `${each.slice(0, 4).join(', ')}, …` : each.join(', ');
      parts.push(`lag ${n(total)}${shown ? ` (${shown})` : ''}`);
    }
    return parts.join(' · ');
  }

  draw(): void {
    if (this.quiet || !this.stats) return;
    const now = Date.now();
    if (this.tty) {
      const cols = process.stderr.columns ?? 160;
      const l = this.line(now);
      this.write(`\r\x1b[2K${l.length > cols - 1 ? `${l.slice(0, cols - 2)}…` : l}`);
      this.drawn = true;
    } else if (now - this.lastPlain >= 5000) {
      this.lastPlain = now;
      this.write(`${this.line(now)}\n`);
    }
  }

  /** One line above the status line (not with --quiet). */
  note(text: string): void {
    if (this.quiet) return;
    this.above(text);
  }

  /** A line that says why the runner stops: printed with --quiet too. */
  error(text: string): void {
    this.above(text);
  }

  private above(text: string): void {
    this.write(`${this.tty && this.drawn ? '\r\x1b[2K' : ''}${text}\n`);
    if (this.tty && this.drawn) this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.drawn) {
      this.draw();
      this.write('\n');
    }
    this.drawn = false;
  }
}

/**
 * A line the sink's logger (Powertools, JSON) wrote, condensed to one short line; undefined for anything else.
 * e.g. `warning: records dead-lettered (count 3, errorPrefix errors/)`, `error: batch failed; …: NoSuchBucket: …`.
 */
export function condenseLog(text: string): string | undefined {
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(t) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o.level !== 'string' || typeof o.message !== 'string') return undefined;
  const skip = new Set(['level', 'message', 'timestamp', 'service', 'sampling_rate', 'xray_trace_id', 'function_request_id', 'cold_start',
    'function_name', 'function_memory_size', 'function_arn', 'error', 'stack']);
  const extra = Object.entries(o).filter(([k, v]) => !skip.has(k) && (typeof v === 'string' || typeof v === 'number'))
    .map(([k, v]) => `${k} ${String(v)}`);
  const err = o.error as { name?: string; message?: string } | undefined;
  const why = err && typeof err === 'object' ? `: ${err.name ?? 'Error'}: ${String(err.message ?? '').split('\n')[0]}` : '';
  const level = o.level.toLowerCase() === 'warn' ? 'warning' : o.level.toLowerCase();
  return `${level}: ${o.message}${extra.length ? ` (${extra.join(', ')})` : ''}${why}`.slice(0, 300);
}
