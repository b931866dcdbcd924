/**
 * Stage 2 — filter: tombstones (null values) per TOMBSTONES, then the optional value regex.
 */
import type { SinkConfig } from './config.ts';
import type { KafkaRecord } from './decode.ts';

export type FilterOutcome = 'keep' | 'filtered' | 'tombstone-ignored' | 'tombstone-deadletter';

export function filterRecord(cfg: Pick<SinkConfig, 'tombstones' | 'filter'>, r: KafkaRecord): FilterOutcome {
  if (r.value === null) {
    if (cfg.tombstones === 'ignore') return 'tombstone-ignored';
    if (cfg.tombstones === 'deadletter') return 'tombstone-deadletter';
    return 'keep';
  }
  if (cfg.filter) {
    // A stateless regex (no g/y flag) so one record's match cannot move another's starting point.
    return cfg.filter.test(r.value.toString('utf8')) ? 'keep' : 'filtered';
  }
  return 'keep';
}
