/**
 * The diagnostics channel on which the runner publishes its running totals (RunnerStats) after each committed batch,
 * only while something subscribes: a process that measures its own cost per record (bench/report-usage.ts samples
 * its CPU time at each message) without polling. A module of its own, so a subscriber loads nothing else.
 */
export const PROGRESS_CHANNEL = 'kafka-s3:runner:progress';

/** What a subscriber reads from a message: records committed and their value bytes so far. */
export interface ProgressMessage {
  readonly committed: number;
  readonly valueBytes: number;
}
