/**
 * `npm run soak -- --records 1000000 --fault-rate 0.1 --kills 5`: the end-to-end proof at scale (see soak-core.ts).
 * `npm run soak -- --mode rewinds --records 1000000 --kills 9`: two consumer groups writing the same partitions at
 * once, members SIGKILLed, groups rewound to earlier offsets (lost commits, replays with other batch cuts).
 * `npm run soak -- --rebalance --records 1000000` (= `--mode rebalance`): one group, runners joining and leaving it
 * over and over (rebalances while batches are in flight); reports the longest a partition stood still.
 * Starts its own Kafka broker and versitygw on 127.0.0.1; exits non-zero when a record is lost or duplicated.
 */
import { parseArgs } from 'node:util';
import { startKafka } from '../test/support/kafka.ts';
import { startVersitygw } from '../test/support/versitygw.ts';
import { runSoak, soakPassed, type SoakMode } from './soak-core.ts';

const USAGE = 'usage: npm run soak -- [--mode kills|rewinds|rebalance | --rebalance] [--records N] [--fault-rate 0..0.99] [--kills K] [--consumers 2|3] [--seed S]';
let values;
try {
  ({ values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'kills' }, records: { type: 'string', default: '1000000' }, 'fault-rate': { type: 'string', default: '0.1' },
      kills: { type: 'string' }, rebalance: { type: 'boolean', default: false }, consumers: { type: 'string', default: '2' }, seed: { type: 'string', default: '7' },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
const mode = (values.rebalance ? 'rebalance' : values.mode) as SoakMode;
const records = Number(values.records);
const faultRate = Number(values['fault-rate']);
// rewinds: events alternate kill / rewind after SIGKILL / rewind after SIGTERM, so 9 = three of each.
// rebalance: joins and leaves, 24 by default (a rebalance about every 40,000 records at 1,000,000).
const kills = Number(values.kills ?? (mode === 'rewinds' ? '9' : mode === 'rebalance' ? '24' : '5'));
const consumers = Number(values.consumers);
if (!['kills', 'rewinds', 'rebalance'].includes(mode) || !Number.isInteger(records) || records < 1 || !(faultRate >= 0 && faultRate < 1)
  || !Number.isInteger(kills) || kills < 0 || (mode === 'rewinds' && consumers !== 2 && consumers !== 3)) {
  console.error(USAGE);
  process.exit(2);
}
const [kafka, s3] = await Promise.all([startKafka(), startVersitygw()]);
try {
  const report = await runSoak({
    mode, records, faultRate, kills, consumers, bootstrap: kafka.bootstrap, s3, seed: Number(values.seed),
    log: (l) => console.error(l), timeoutMs: 3 * 3600_000,
  });
  console.log(JSON.stringify(report, null, 2));
  const ok = soakPassed(report);
  console.log(`soak (${mode}): ${records} records, ${report.missing} lost, ${report.duplicates} duplicated, ${report.contentMismatches} content mismatches, `
    + `${report.checkpointProblems} checkpoint problems, longest partition stand-still ${report.maxPartitionIdleSeconds.toFixed(1)} s, ${report.runSeconds.toFixed(1)} s`);
  console.log(ok ? `soak: OK — ${records} records, every offset exactly once` : 'soak: FAILED');
  process.exitCode = ok ? 0 : 1;
} finally {
  await Promise.all([kafka.stop(), s3.stop()]);
}
