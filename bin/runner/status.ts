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
    // Each second: a plain line is due 5 s after the last one (a 5 s timer would find 4.99 s and skip a tick).
    this.timer = setInterval(() => this.draw(), 1000).unref();
  }

  update(s: RunnerStats): void {
    this.stats = s;
  }

  setLag(lag: LagMap | undefined): void {
    if (lag) this.lag = lag;
  }

  /**
   * The line as it stands (exported for tests and the plain log), within `width` characters when given: the detail
   * that matters least goes first (partitions in the lag's detail, objects, MB, already written, retries), so that
   * records, their rate, dead letters and the lag stay in sight on a narrow terminal.
   */
  line(now = Date.now(), width = Infinity): string {
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
    // [text, the order it is left out in when the line is too long (0: kept)]
    const parts: [string, number][] = [
      [`${n(s.committed)} records`, 0], [`${n(Math.round(rate))} rec/s`, 0], [`${mb(s.valueBytes)} (${mbs.toFixed(1)} MB/s)`, 2],
      [`${n(s.objects)} objects`, 1], [`${n(s.deadLettered)} dead letters`, 0],
    ];
    if (s.alreadyWritten > 0) parts.push([`${n(s.alreadyWritten)} already written`, 3]);
    if (s.retries > 0) parts.push([`${n(s.retries)} retries`, 4]);
    let total = 0;
    let each: string[] = [];
    if (this.lag) {
      for (const v of this.lag.values()) total += v;
      each = [...this.lag.entries()].filter(([, v]) => v > 0).map(([k, v]) => `${tpName(k)} ${n(v)}`);
    }
    const compose = (partitions: number, dropped: number) => {
      const kept = parts.filter(([, order]) => order === 0 || order > dropped).map(([text]) => text);
      if (this.lag) {
        const shown = each.slice(0, partitions).join(', ') + (each.length > partitions && partitions > 0 ? ', …' : '');
        kept.push(`lag ${n(total)}${shown ? ` (${shown})` : ''}`);
      }
      return kept.join(' · ');
    };
    let l = compose(4, 0);
    for (let p = Math.min(4, each.length) - 1; l.length > width && p >= 0; p--) l = compose(p, 0);
    for (let d = 1; l.length > width && d <= 4; d++) l = compose(0, d);
    return l.length > width ? `${l.slice(0, Math.max(0, width - 1))}…` : l;
  }

  draw(): void {
    if (this.quiet || !this.stats) return;
    const now = Date.now();
    if (this.tty) {
      // A terminal that reports no width (0, as a pty may) counts as a wide one.
      const cols = process.stderr.columns || 160;
      this.write(`\r\x1b[2K${this.line(now, cols - 1)}`);
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
