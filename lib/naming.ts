/**
 * Everything a pipeline names, derived from its name (context key `pipeline`, default kafka-s3), so that several
 * pipelines deploy side by side in one account and region: stacks, the event source mappings' consumer groups, the
 * table bucket (lib/config.ts) and the metrics' service dimension.
 */
import { createHash } from 'node:crypto';
import type { AppConfig } from './config.ts';

export type StackKind = 'direct' | 'tables';

const STACK_IDS: Record<StackKind | 'endpoints' | 'replay', string> = {
  direct: 'KafkaS3DirectStack', tables: 'KafkaS3TablesStack', endpoints: 'KafkaS3EndpointsStack', replay: 'KafkaS3ReplayStack',
};

/** KafkaS3DirectStack, or <pipeline>-KafkaS3DirectStack when a pipeline is named (the same for the tables stack). */
export function stackId(c: Pick<AppConfig, 'pipelineName' | 'pipelineNamed'>, kind: StackKind | 'endpoints' | 'replay'): string {
  return c.pipelineNamed ? `${c.pipelineName}-${STACK_IDS[kind]}` : STACK_IDS[kind];
}

/** The Powertools service name, the `service` dimension of the metrics: kafka-s3-sink by default. */
export function serviceName(c: Pick<AppConfig, 'pipelineName'>, fn: 'sink' | 'forwarder' | 'compactor'): string {
  return `${c.pipelineName}-${fn}`;
}

/** ConsumerGroupId: 1-200 characters (AWS::Lambda::EventSourceMapping AmazonManagedKafkaEventSourceConfig). */
const MAX_GROUP_ID = 200;

type GroupConfig = Pick<AppConfig, 'pipelineName' | 'pipelineNamed' | 'consumerGroupPrefix' | 'pinnedConsumerGroups' | 'mskClusterArn' | 'bootstrapServers' | 'startingPosition' | 'startingTimestampSeconds'>;

/**
 * The consumer group of one topic's event source mapping. AWS: "The consumer group ID that you specify must be unique
 * among all your Kafka event sources. After creating a Kafka event source mapping with the consumer group ID
 * specified, you cannot update this value." (Lambda guide, Customizable consumer group ID; CloudFormation answers
 * 409 AlreadyExists for a second mapping with the same group.) So each mapping gets its own group:
 *
 *   <consumerGroupPrefix | pipeline-direct | pipeline-tables>-<topic>-<8 hex>
 *
 * The 8 hex digits are a hash of the mapping's create-only properties other than the topic (the MSK cluster ARN or
 * the bootstrap servers as listed, StartingPosition, StartingPositionTimestamp; AWS::Lambda::EventSourceMapping:
 * "Update requires: Replacement"). A change to one of them makes CloudFormation replace the mapping, and it creates
 * the new mapping before it deletes the old one: with the same group the new one would fail with 409. With the hash,
 * the group changes exactly when the mapping must be replaced, and stays the same across every other deploy (any
 * other setting, other topics added or removed). A topic pinned with consumerGroupIds gets that group as given.
 */
export function consumerGroupId(c: GroupConfig, kind: StackKind, topic: string): string {
  // consumerGroupIds pins the direct stack's groups; the forwarder of the tables stack always has its own.
  const pinned = kind === 'direct' ? c.pinnedConsumerGroups.get(topic) : undefined;
  if (pinned) return pinned;
  const prefix = c.consumerGroupPrefix ?? `${c.pipelineName}-${kind}`;
  // A named pipeline's name is in the hash too, so two pipelines with one consumerGroupPrefix still get their own
  // groups; the unnamed pipeline's groups stay those of earlier versions.
  const identity = JSON.stringify([kind, topic, c.mskClusterArn ?? c.bootstrapServers ?? null, c.startingPosition, c.startingTimestampSeconds ?? null,
    ...(c.pipelineNamed ? [c.pipelineName] : [])]);
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 8);
  // Topics may be 249 characters long: the topic part is cut to fit; the hash (which covers the whole topic) keeps groups apart.
  const room = MAX_GROUP_ID - prefix.length - hash.length - 2;
  return `${prefix}-${topic.slice(0, Math.max(0, room))}-${hash}`;
}
