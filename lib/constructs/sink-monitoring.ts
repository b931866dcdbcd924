/**
 * Alarms and a dashboard for the sink: function errors and throttles, the event source's offset lag, dead
 * letters and failing batches (from the sink's EMF metrics), with an SNS topic for notifications.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { checkovSkip } from './checkov.ts';
import { MetricsNamespace as METRICS_NAMESPACE, SinkServiceName as SERVICE_NAME } from '../../lambdas/shared/constants.ts';

export interface SinkMonitoringProps {
  /** The function whose errors, throttles and event-source lag are watched. @default - none (Firehose reads Kafka) */
  readonly fn?: lambda.IFunction;
  /** The EMF metric of records delivered. @default 'RecordsWritten' */
  readonly deliveredMetric?: string;
  /** Alarm when OffsetLag (the event source's consumer lag, in records) stays above this. */
  readonly offsetLagThreshold: number;
  /** @default - no notifications unless alarmEmail is given */
  readonly alarmTopicArn?: string;
  /** Subscribe this address to a new alarm topic. */
  readonly alarmEmail?: string;
  /** Powertools service whose EMF metrics the dead-letter alarm and the dashboard read. @default the sink's */
  readonly serviceName?: string;
  /** More alarms (e.g. the S3 Tables stack's Kinesis and Firehose ones), on the same topic. */
  readonly extraAlarms?: readonly ExtraAlarm[];
  /** More dashboard rows. */
  readonly extraWidgets?: readonly (readonly cloudwatch.IWidget[])[];
}

export interface ExtraAlarm {
  readonly id: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly description: string;
  /** @default 1 */
  readonly evaluationPeriods?: number;
}

export class SinkMonitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  readonly topic?: sns.ITopic;

  constructor(scope: Construct, id: string, props: SinkMonitoringProps) {
    super(scope, id);
    const { fn } = props;
    if (props.alarmTopicArn) this.topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
    else if (props.alarmEmail) {
      const topic = new sns.Topic(this, 'AlarmTopic', { enforceSSL: true });
      const reason = 'CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key; alarm notifications carry no record data.';
      Validations.of(topic).acknowledge({ id: 'AwsSolutions-SNS2', reason });
      checkovSkip(topic, { id: 'CKV_AWS_26', comment: reason });
      topic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
      this.topic = topic;
    }
    const sink = (name: string, statistic = 'Sum') => new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE, metricName: name, dimensionsMap: { service: props.serviceName ?? SERVICE_NAME }, statistic, period: Duration.minutes(5),
    });
    const offsetLag = fn?.metric('OffsetLag', { statistic: 'Maximum', period: Duration.minutes(5) });

    const alarm = (name: string, metric: cloudwatch.IMetric, threshold: number, description: string, periods = 1) => {
      const a = new cloudwatch.Alarm(this, name, {
        metric, threshold, evaluationPeriods: periods, alarmDescription: description,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (this.topic) a.addAlarmAction(new actions.SnsAction(this.topic));
      this.alarms.push(a);
      return a;
    };
    if (fn && offsetLag) {
      alarm('Errors', fn.metricErrors({ period: Duration.minutes(5) }), 0, 'The function failed invocations (the event source retries those batches).');
      alarm('Throttles', fn.metricThrottles({ period: Duration.minutes(5) }), 0, 'The function was throttled.');
      alarm('OffsetLag', offsetLag, props.offsetLagThreshold, 'The Kafka event source is falling behind (OffsetLag in records).', 3);
      alarm('DeadLetters', sink('RecordsDeadLettered'), 0, 'Records were set aside under the dead-letter prefix.');
      // The second line of defence isolated a record that no per-record check caught: a check is missing (the
      // forwarder emits RecordCheckGaps only; EncodeFallbacks is the sink's, filled with 0 where absent).
      const gaps = new cloudwatch.MathExpression({
        expression: 'FILL(gaps, 0) + FILL(fallbacks, 0)', label: 'Records isolated by the second line of defence', period: Duration.minutes(5),
        usingMetrics: { gaps: sink('RecordCheckGaps'), fallbacks: sink('EncodeFallbacks') },
      });
      alarm('CheckGaps', gaps, 0, 'A record was set aside by the second line of defence (RecordCheckGaps or EncodeFallbacks): a per-record check is missing; see the dead letters\' reasons and report it.');
    }
    for (const a of props.extraAlarms ?? []) alarm(a.id, a.metric, a.threshold, a.description, a.evaluationPeriods ?? 1);

    const functionRows: cloudwatch.IWidget[][] = fn && offsetLag
      ? [
        [
          new cloudwatch.GraphWidget({ title: 'Records', left: [sink('RecordsIn'), sink(props.deliveredMetric ?? 'RecordsWritten'), sink('RecordsFiltered'), sink('TombstonesIgnored')], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Dead letters and failed batches', left: [sink('RecordsDeadLettered'), sink('BatchFailures')], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Bytes written', left: [sink('BytesWritten')], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Objects written', left: [sink('ObjectsWritten')], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Offset lag (records)', left: [offsetLag], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Batch duration (ms)', left: [sink('BatchDuration', 'Average'), sink('BatchDuration', 'Maximum')], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Function duration', left: [fn.metricDuration({ statistic: 'Maximum' })], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Errors and throttles', left: [fn.metricErrors(), fn.metricThrottles()], width: 8 }),
        ],
      ]
      : [];
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [...functionRows, ...(props.extraWidgets ?? []).map((row) => [...row])],
    });
  }
}
