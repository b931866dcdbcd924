/**
 * The directory layout a key template gives objects: its '/'-separated segments, the directories (literal text, a
 * topic's own directory, or Hive-style `name={{variable}}` partitions) and the file name. The Glue catalog
 * (lib/catalog.ts) declares tables from it; the compactor (lambdas/compactor) finds each object's window with it.
 */
import type { TemplatePart, TimePart } from './key-template.ts';

export type LayoutDir =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'topic' }
  | { readonly kind: 'partition'; readonly name: string; readonly part: TemplatePart };

export interface KeyLayout {
  readonly dirs: readonly LayoutDir[];
  /** The parts of the last segment (the object's name, before the extension). */
  readonly file: readonly TemplatePart[];
  /** Directories that are neither literal, {{topic}} alone, nor name={{variable}}: their text. */
  readonly unclassified: readonly string[];
}

/** The template's parts split into '/'-separated segments (a literal may hold several '/'). */
function segmentsOf(parts: readonly TemplatePart[]): TemplatePart[][] {
  const segments: TemplatePart[][] = [[]];
  for (const p of parts) {
    if (p.kind !== 'literal') {
      segments[segments.length - 1].push(p);
      continue;
    }
    p.text.split('/').forEach((text, i) => {
      if (i > 0) segments.push([]);
      if (text !== '') segments[segments.length - 1].push({ kind: 'literal', text });
    });
  }
  return segments;
}

export function patternText(pattern: readonly TimePart[]): string {
  return pattern.map((p) => ('literal' in p ? p.literal : p.token)).join('');
}

/** A segment as the template spells it. */
export function segmentText(segment: readonly TemplatePart[]): string {
  return segment.map((p) => {
    switch (p.kind) {
      case 'literal': return p.text;
      case 'timestamp': return `{{timestamp:${patternText(p.pattern)}}}`;
      case 'value': return `{{value.${p.path.join('.')}}}`;
      default: return `{{${p.kind}}}`;
    }
  }).join('');
}

export function keyLayout(parts: readonly TemplatePart[]): KeyLayout {
  const segments = segmentsOf(parts);
  const dirs: LayoutDir[] = [];
  const unclassified: string[] = [];
  for (const seg of segments.slice(0, -1)) {
    if (seg.every((p) => p.kind === 'literal')) dirs.push({ kind: 'text', text: seg.map((p) => (p as { text: string }).text).join('') });
    else if (seg.length === 1 && seg[0].kind === 'topic') dirs.push({ kind: 'topic' });
    else if (seg.length === 2 && seg[0].kind === 'literal' && /^[^=]+=$/.test(seg[0].text)) dirs.push({ kind: 'partition', name: seg[0].text.slice(0, -1), part: seg[1] });
    else unclassified.push(segmentText(seg));
  }
  return { dirs, file: segments[segments.length - 1], unclassified };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A matcher of the object names a layout's file segment renders (with the extension): the topic (as rendered in
 * keys) and the partition when the name holds them (else a directory does), and the start offset of an object, or
 * null for a name it does not render.
 */
export function fileNameMatcher(file: readonly TemplatePart[], extension: string): (name: string) => { topic?: string; partition?: number; start: bigint } | null {
  const groups: string[] = [];
  let source = '';
  for (const p of file) {
    switch (p.kind) {
      case 'literal': source += escape(p.text); break;
      case 'topic': groups.push('topic'); source += '([^/]+?)'; break;
      case 'partition': groups.push('partition'); source += '(\\d+)'; break;
      case 'start_offset': groups.push('start'); source += '(\\d{20})'; break;
      case 'end_offset': source += '\\d{20}'; break;
      default: source += '[^/]*?'; break;
    }
  }
  const re = new RegExp(`^${source}\\.${escape(extension)}$`);
  return (name) => {
    const m = re.exec(name);
    if (!m) return null;
    const at = (g: string) => m[groups.indexOf(g) + 1];
    return {
      topic: groups.includes('topic') ? at('topic') : undefined,
      partition: groups.includes('partition') ? Number(at('partition')) : undefined,
      start: BigInt(at('start')),
    };
  };
}
