/**
 * Context keys that the app does not know: a typo (`-c batchSze=5`, `-c memoryMB=4096`) must fail synth with the
 * key named and the closest known key suggested, never synthesize silently with the defaults. CDK's own keys and
 * cached context lookups (below) are not ours to judge.
 */

/** Keys of earlier versions, with what replaces them. */
export const RemovedContextKeys: Readonly<Record<string, string>> = {
  consumerGroupId:
    'removed: AWS requires a consumer group unique to each event source mapping, so one group for every topic cannot deploy; ' +
    'the groups are now named per pipeline, stack and topic (consumerGroupPrefix), or set exactly per topic with consumerGroupIds=topic=group',
};

/**
 * Feature flags and settings (`@aws-cdk/…`, `aws-cdk:…`, `aws:cdk:…`), what the CLI stores in cdk.context.json
 * itself (`acknowledged-issue-numbers`, `cli-telemetry`), and cached lookups, whose keys are
 * `<provider>:account=<12 digits>:…` (availability-zones, vpc-provider, ssm, hosted-zone, ami, …) or `plugin:…`.
 */
const CDK_OWN = [/^@aws-cdk\//, /^aws-cdk:/, /^aws:cdk:/, /^acknowledged-issue-numbers$/, /^cli-telemetry$/, /^[a-z][a-z0-9-]*:account=\d{12}(:|$)/, /^plugin:/];

export const isCdkOwnKey = (key: string): boolean => CDK_OWN.some((re) => re.test(key));

/** Edit distance (Damerau: a swap of two neighbours is one edit), letter case ignored. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => [i, ...Array<number>(t.length).fill(0)]);
  for (let j = 1; j <= t.length; j++) d[0][j] = j;
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[s.length][t.length];
}

/** The known key closest to `key`, when it is close enough to be a likely typo (or differs only in letter case). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(key, k);
    if (!best || d < best.d) best = { k, d };
  }
  if (!best) return undefined;
  const caseOnly = best.k.toLowerCase() === key.toLowerCase();
  const close = best.d <= Math.max(2, Math.floor(Math.min(key.length, best.k.length) / 3));
  const prefix = best.k.toLowerCase().startsWith(key.toLowerCase()) && key.length >= 4;
  return caseOnly || close || prefix ? best.k : undefined;
}

/** One problem per context key that is neither ours nor CDK's, naming the closest known key. */
export function unknownContextKeyProblems(keys: readonly string[], known: readonly string[]): string[] {
  const problems: string[] = [];
  for (const key of keys) {
    if (known.includes(key) || isCdkOwnKey(key)) continue;
    const removed = RemovedContextKeys[key];
    if (removed) {
      problems.push(`${key}: ${removed}`);
      continue;
    }
    const near = closestKey(key, known);
    problems.push(`${key}: not a context key of this app${near ? `; did you mean ${near}?` : ''} (the README's parameter table lists every key)`);
  }
  return problems;
}
