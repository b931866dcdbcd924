/**
 * The metrics' dimensions: `service` (the pipeline's service name, POWERTOOLS_SERVICE_NAME, set per pipeline by the
 * stack) on every metric, and a second set `service`+`topic`. An event source mapping reads one topic, so every
 * Lambda invocation holds one topic; an event with several (the local runner) gets the `service` set only.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';

/** The service name the stack gave the function, or the default. */
export function serviceNameOf(env: Readonly<Record<string, string | undefined>>, fallback: string): string {
  const name = env.POWERTOOLS_SERVICE_NAME?.trim();
  return name ? name : fallback;
}

/** The one topic of a Kafka event, or undefined (no records, several topics, not an event). */
export function topicOf(event: unknown): string | undefined {
  const records = (event as { records?: unknown } | null)?.records;
  if (!records || typeof records !== 'object') return undefined;
  let topic: string | undefined;
  for (const [key, list] of Object.entries(records as Record<string, unknown>)) {
    const first = Array.isArray(list) ? (list[0] as { topic?: unknown } | undefined) : undefined;
    const t = typeof first?.topic === 'string' ? first.topic : key.replace(/-\d+$/, '');
    if (topic !== undefined && t !== topic) return undefined;
    topic = t;
  }
  return topic;
}

/** The one topic of decoded records, or undefined (none, or several topics). */
export function topicOfRecords(records: readonly { readonly topic: unknown }[]): string | undefined {
  let topic: string | undefined;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (typeof r?.topic !== 'string' || (topic !== undefined && r.topic !== topic)) return undefined;
    topic = r.topic;
  }
  return topic;
}

/** Adds the per-topic dimension set beside the service-only one (both are published; alarms read the latter). */
export function addTopicDimension(metrics: Metrics, event: unknown): void {
  addTopicNameDimension(metrics, topicOf(event));
}

/** The same for a topic already known (undefined: only the service-only set). */
export function addTopicNameDimension(metrics: Metrics, topic: string | undefined): void {
  if (topic === undefined || topic === '' || topic.length > 250) return;
  metrics.addDimensions({});
  metrics.addDimensions({ topic });
}
