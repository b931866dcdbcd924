/**
 * `npm run soak -- --records 1000000 --fault-rate 0.1 --kills 5`: the end-to-end proof at scale (see soak-core.ts).
 * Starts its own Kafka broker and versitygw on 127.0.0.1; exits non-zero when a record is lost or duplicated.
 */
import { parseArgs } from 'node:util';
import { startKafka } from '../test/support/kafka.ts';
import { startVersitygw } from '../test/support/versitygw.ts';
import { runSoak } from './soak-core.ts';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' }, 'fault-rate': { type: 'string', default: '0.1' },
    kills: { type: 'string', default: '5' }, seed: { type: 'string', default: '7' },
  },
});
const records = Number(values.records);
const faultRate = Number(values['fault-rate']);
const kills = Number(values.kills);
if (!Number.isInteger(records) || records < 1 || !(faultRate >= 0 && faultRate < 1) || !Number.isInteger(kills) || kills < 0) {
  console.error('usage: npm run soak -- --records N --fault-rate 0..0.99 --kills K');
  process.exit(2);
}
const [kafka, s3] = await Promise.all([startKafka(), startVersitygw()]);
try {
  const report = await runSoak({ records, faultRate, kills, bootstrap: kafka.bootstrap, s3, seed: Number(values.seed), log: (l) => console.error(l), timeoutMs: 3 * 3600_000 });
  console.log(JSON.stringify(report, null, 2));
  const ok = report.missing === 0 && report.duplicates === 0 && report.contentMismatches === 0 && report.orderViolations === 0 && report.openUploads === 0;
  console.log(ok ? `soak: OK — ${records} records, every offset exactly once` : 'soak: FAILED');
  process.exitCode = ok ? 0 : 1;
} finally {
  await Promise.all([kafka.stop(), s3.stop()]);
}
