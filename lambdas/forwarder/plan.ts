/**
 * What the forwarder asks of the shared convert stage for each record (lambdas/shared/convert.ts), in one place
 * for forwardBatch and the tests.
 */
import type { ConvertPlan, ConvertSettings } from '../shared/convert.ts';
import type { ForwarderConfig } from './config.ts';

type PlanSettings = Pick<ForwarderConfig, 'fields' | 'valueEncoding' | 'valueLayout' | 'tables'>;

export function forwarderPlan(cfg: PlanSettings): ConvertPlan {
  return {
    needsValue: cfg.valueEncoding === 'json', needsObject: false, avroNames: false,
    // The key is converted (and must be UTF-8 with KEY_ENCODING=text) only when FIELDS writes it: the partition key
    // comes from the raw bytes (partition-key.ts), so a binary key that only picks the shard is no problem.
    needsKey: cfg.fields.includes('key'),
    needsHeaders: cfg.fields.includes('headers'),
    valueMode: cfg.valueEncoding,
    // Without the table's columns the value's fields go as they are: a number no double holds (1e400) could fail
    // Firehose's row. With them, each column is checked for its own type (column-check.ts).
    finiteNumbers: cfg.valueLayout === 'columns' && !cfg.tables,
  };
}

export function forwarderConvertSettings(cfg: Pick<ForwarderConfig, 'keyEncoding' | 'valueEncoding' | 'headerEncoding'>): ConvertSettings {
  return { format: 'jsonl', keyEncoding: cfg.keyEncoding, valueEncoding: cfg.valueEncoding, headerEncoding: cfg.headerEncoding, schema: undefined };
}
