/**
 * Windows: the directories the key template puts objects in (topics/orders/dt=2026-03-01/hour=22/), each covering a
 * span of record time that the template's time directories give. A window is closed once its span has ended (in
 * the template's time zone) and a grace period has passed; the compactor merges closed windows only.
 */
import type { SinkConfig } from '../shared/config.ts';
import { extensionFor } from '../shared/constants.ts';
import { fileNameMatcher, keyLayout, type KeyLayout } from '../shared/key-layout.ts';
import type { TimePart } from '../shared/key-template.ts';

export interface ObjectWindow {
  /** The window's directory, a key prefix ending with '/'. */
  readonly dir: string;
  /** The directory below the data prefix (where the compactor's own objects for the window go). */
  readonly rel: string;
  /** Partition values by name (dt → 2026-03-01). */
  readonly values: Readonly<Record<string, string>>;
  /** The topic as rendered in keys, when a directory holds it ({{topic}}, or name={{topic}}). */
  readonly topic?: string;
  /** The Kafka partition, when a directory holds it (name={{partition}}). */
  readonly partition?: number;
  /** The record time the window covers, epoch ms UTC: [startMs, endMs). */
  readonly startMs: number;
  readonly endMs: number;
}

export interface WindowedObject {
  readonly window: ObjectWindow;
  /** The topic as rendered in keys, when the file name holds it. */
  readonly topic?: string;
  readonly partition: number;
  /** The start offset in the name: no record of the object is below it. */
  readonly start: bigint;
}

const ORDER = ['yyyy', 'MM', 'dd', 'HH', 'mm', 'ss'] as const;
type Field = (typeof ORDER)[number];
const STEP: Record<Field, (d: Date) => void> = {
  yyyy: (d) => d.setUTCFullYear(d.getUTCFullYear() + 1),
  MM: (d) => d.setUTCMonth(d.getUTCMonth() + 1),
  dd: (d) => d.setUTCDate(d.getUTCDate() + 1),
  HH: (d) => d.setUTCHours(d.getUTCHours() + 1),
  mm: (d) => d.setUTCMinutes(d.getUTCMinutes() + 1),
  ss: (d) => d.setUTCSeconds(d.getUTCSeconds() + 1),
};

/** Why windows cannot be found for a configuration (empty when they can). */
export function windowProblems(cfg: SinkConfig): string[] {
  const layout = keyLayout(cfg.keyTemplate.parts);
  const problems = layout.unclassified.map((d) => `keyTemplate directory "${d}" is not Hive-style (name={{variable}}): windows are the template's name=value directories`);
  const tokens = timeDirs(layout).flatMap((d) => d.pattern.flatMap((p) => ('token' in p ? [p.token] : [])));
  if (!tokens.includes('yyyy')) problems.push('keyTemplate has no time directory with the year (e.g. dt={{timestamp:yyyy-MM-dd}}): a window must be a span of record time that closes');
  if (tokens.includes('SSS')) problems.push('keyTemplate has a time directory with milliseconds (SSS): windows of a millisecond are not worth compacting');
  if (cfg.timestampSource !== 'record') problems.push('timestampSource=wallclock: windows must be record time, or a retried batch lands in a window already compacted');
  return problems;
}

function timeDirs(layout: KeyLayout): { name: string; pattern: readonly TimePart[] }[] {
  return layout.dirs.flatMap((d) => (d.kind === 'partition' && d.part.kind === 'timestamp' ? [{ name: d.name, pattern: d.part.pattern }] : []));
}

/** Offset of a time zone from UTC at an instant, in ms (Intl; zone transitions fall on whole minutes). */
function zoneOffset(dtf: Intl.DateTimeFormat | undefined, ms: number): number {
  if (!dtf) return 0;
  const p: Record<string, number> = {};
  for (const part of dtf.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - (ms - (ms % 1000));
}

/** Finds the window of each data object key the sink writes with `cfg`. */
export class WindowResolver {
  private readonly prefix: string;
  private readonly layout: KeyLayout;
  private readonly matchName: ReturnType<typeof fileNameMatcher>;
  private readonly times: { name: string; re: RegExp; tokens: Field[] }[];
  private readonly unit: Field;
  private readonly dtf?: Intl.DateTimeFormat;
  private readonly cache = new Map<string, ObjectWindow | null>();

  constructor(cfg: SinkConfig) {
    const problems = windowProblems(cfg);
    if (problems.length > 0) throw new Error(problems.join('; '));
    this.prefix = cfg.prefix;
    this.layout = keyLayout(cfg.keyTemplate.parts);
    this.matchName = fileNameMatcher(this.layout.file, extensionFor(cfg.format, cfg.compression));
    this.times = timeDirs(this.layout).map(({ name, pattern }) => {
      const tokens: Field[] = [];
      const source = pattern.map((p) => {
        if ('literal' in p) return p.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        tokens.push(p.token as Field);
        return p.token === 'yyyy' ? '(\\d{4})' : '(\\d{2})';
      }).join('');
      return { name, re: new RegExp(`^${source}$`), tokens };
    });
    const all = new Set(this.times.flatMap((t) => t.tokens));
    this.unit = [...ORDER].reverse().find((f) => all.has(f))!;
    this.dtf = cfg.timezone === 'UTC' || cfg.timezone === 'Etc/UTC' ? undefined : new Intl.DateTimeFormat('en-US', {
      timeZone: cfg.timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
  }

  /** The window and name parts of a data object key, or null for a key the sink does not write. */
  resolve(key: string): WindowedObject | null {
    const slash = key.lastIndexOf('/');
    if (!key.startsWith(this.prefix) || slash < this.prefix.length) return null;
    const dir = key.slice(0, slash + 1);
    let window = this.cache.get(dir);
    if (window === undefined) {
      window = this.windowOf(dir);
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(dir, window);
    }
    if (window === null) return null;
    const name = this.matchName(key.slice(slash + 1));
    const partition = name?.partition ?? window.partition;
    return name === null || partition === undefined ? null : { window, topic: name.topic, partition, start: name.start };
  }

  private windowOf(dir: string): ObjectWindow | null {
    const rel = dir.slice(this.prefix.length);
    const segments = rel.split('/').slice(0, -1);
    if (segments.length !== this.layout.dirs.length) return null;
    const values: Record<string, string> = {};
    let topic: string | undefined;
    let partition: number | undefined;
    for (const [i, d] of this.layout.dirs.entries()) {
      const seg = segments[i];
      if (d.kind === 'text' && seg !== d.text) return null;
      if (d.kind === 'topic') topic = seg;
      if (d.kind === 'partition') {
        if (!seg.startsWith(`${d.name}=`)) return null;
        values[d.name] = seg.slice(d.name.length + 1);
        if (d.part.kind === 'topic') topic = values[d.name];
        if (d.part.kind === 'partition') {
          if (!/^\d+$/.test(values[d.name])) return null;
          partition = Number(values[d.name]);
        }
      }
    }
    const f: Record<Field, number> = { yyyy: 1970, MM: 1, dd: 1, HH: 0, mm: 0, ss: 0 };
    for (const t of this.times) {
      const m = t.re.exec(values[t.name]);
      if (!m) return null;
      t.tokens.forEach((token, i) => (f[token] = Number(m[i + 1])));
    }
    const local = new Date(Date.UTC(f.yyyy, f.MM - 1, f.dd, f.HH, f.mm, f.ss));
    if (local.getUTCFullYear() !== f.yyyy) local.setUTCFullYear(f.yyyy); // years 0-99
    const localStart = local.getTime();
    STEP[this.unit](local);
    return { dir, rel, values, topic, partition, startMs: this.toUtc(localStart), endMs: this.toUtc(local.getTime()) };
  }

  /**
   * A wall-clock time of the zone (as if UTC) → the first instant the zone's clocks show it, so that a window of an
   * hour repeated when clocks go back covers both (the sink puts both in its directory); a time skipped when they go
   * forward → the instant of the change.
   */
  private toUtc(localMs: number): number {
    const before = localMs - zoneOffset(this.dtf, localMs - 86_400_000);
    const after = localMs - zoneOffset(this.dtf, localMs + 86_400_000);
    const valid = [before, after].filter((c) => c + zoneOffset(this.dtf, c) === localMs);
    return valid.length > 0 ? Math.min(...valid) : before;
  }
}
