/**
 * compaction=true in the direct stack: the compactor function (one run at a time, on a schedule), its least-privilege
 * role, the lifecycle rules that remove what it tags, its alarms, and the compacted tables of the catalog; and the
 * configurations it cannot serve, refused at synth with the reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { nagFindings, synth } from './synth.ts';

describe('the stack with compaction=true', () => {
  it('a scheduled compactor, reserved concurrency 1, 15 minutes, with the sink\'s settings and its own', () => {
    const s = synth({ compaction: 'true', compactionTargetMb: '128', compactionGraceMinutes: '30', compactionScheduleMinutes: '10' });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('compactor'), ReservedConcurrentExecutions: 1, Timeout: 900, MemorySize: 2048,
      Environment: { Variables: Match.objectLike({ FORMAT: 'jsonl', PREFIX: 'topics/', STATE_PREFIX: 'checkpoints/', COMPACTED_PREFIX: 'compacted/', COMPACTION_TARGET_BYTES: String(128 << 20), COMPACTION_GRACE_SECONDS: '1800', POWERTOOLS_SERVICE_NAME: 'kafka-s3-compactor' }) },
    });
    s.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)', Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 600 } })] });
    expect(nagFindings(s)).toEqual([]);
  });

  it('the role reads raw objects and checkpoints, writes only under the compacted prefix, lists only the three prefixes', () => {
    const s = synth({ compaction: 'true', encryption: 'kms' });
    const policy = Object.entries(s.template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('CompactionFn'))![1];
    const statements = (policy.Properties.PolicyDocument.Statement as { Sid: string; Action: string | string[]; Resource: unknown; Condition?: unknown }[])
      .map((st) => [st.Sid, [st.Action].flat().sort(), JSON.stringify(st.Resource).match(/"\/[^"]*"|Arn"\]/g)?.join(''), st.Condition ?? null]);
    expect(statements).toEqual([
      ['Logs', ['logs:CreateLogStream', 'logs:PutLogEvents'], 'Arn"]', null],
      ['ReadAndTagRawObjects', ['s3:GetObject', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'], 'Arn"]"/topics/*"', null],
      ['ReadCheckpoints', ['s3:GetObject'], 'Arn"]"/checkpoints/*"', null],
      ['WriteCompacted', ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject', 's3:PutObjectTagging'], 'Arn"]"/compacted/*"', null],
      ['ListWindows', ['s3:ListBucket'], 'Arn"]', { StringLike: { 's3:prefix': ['topics/*', 'compacted/*', 'checkpoints/*'] } }],
      ['EncryptObjects', ['kms:Decrypt', 'kms:GenerateDataKey'], 'Arn"]', null],
    ]);
  });

  it('lifecycle rules on the created bucket expire what the compactor tags; an existing bucket gets them as an output', () => {
    const created = synth({ compaction: 'true', compactionRawRetentionDays: '3' });
    created.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          { Id: 'ExpireCompactedRawObjects', Prefix: 'topics/', TagFilters: [{ Key: 'kafka-s3-compaction', Value: 'compacted' }], ExpirationInDays: 3, Status: 'Enabled' },
          { Id: 'ExpireSupersededCompactedFiles', Prefix: 'compacted/data/', TagFilters: [{ Key: 'kafka-s3-compaction', Value: 'superseded' }], ExpirationInDays: 1, Status: 'Enabled' },
        ]),
      },
    });
    const existing = synth({ compaction: 'true', bucketName: 'their-lake' });
    const rules = JSON.parse(existing.template.findOutputs('CompactionLifecycleRules').CompactionLifecycleRules.Value as string);
    expect(rules).toEqual([
      { ID: 'ExpireCompactedRawObjects', Status: 'Enabled', Filter: { And: { Prefix: 'topics/', Tags: [{ Key: 'kafka-s3-compaction', Value: 'compacted' }] } }, Expiration: { Days: 7 } },
      { ID: 'ExpireSupersededCompactedFiles', Status: 'Enabled', Filter: { And: { Prefix: 'compacted/data/', Tags: [{ Key: 'kafka-s3-compaction', Value: 'superseded' }] } }, Expiration: { Days: 1 } },
      // The S3 API's LifecycleRule: AbortIncompleteMultipartUpload.DaysAfterInitiation (PutBucketLifecycleConfiguration).
      { ID: 'AbortCompactorUploads', Status: 'Enabled', Filter: { Prefix: 'compacted/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
    ]);
  });

  it('alarms on lag, failed runs and function errors, on the stack\'s alarm topic', () => {
    const s = synth({ compaction: 'true', alarmEmail: 'ops@example.com' });
    for (const name of ['CompactionLag', 'CompactionFailures']) s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: name, Dimensions: [{ Name: 'service', Value: 'kafka-s3-compactor' }], AlarmActions: Match.anyValue() });
  });

  it('with catalog=true, a table per topic over the compacted view, read through the symlink files', () => {
    const s = synth({ compaction: 'true', catalog: 'true', bucketName: 'lake' });
    const t = Object.values(s.template.findResources('AWS::Glue::Table')).map((r) => r.Properties.TableInput).find((x) => x.Name === 'orders_compacted');
    expect([t.StorageDescriptor.InputFormat, t.StorageDescriptor.Location, t.Parameters['storage.location.template']]).toEqual([
      'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat', 's3://lake/compacted/symlinks/orders/', 's3://lake/compacted/symlinks/orders/dt=${dt}/hour=${hour}/',
    ]);
  });

  it('refuses at synth what the compactor cannot merge, naming why', () => {
    expect(() => synth({ compaction: 'true', format: 'parquet' })).toThrow(/compaction='true': format=parquet without schemaFile infers columns per object, so objects differ and cannot be merged/);
    expect(() => synth({ compaction: 'true', format: 'text' })).toThrow(/compaction='true': format=text holds values only, no offsets/);
    for (const format of ['parquet', 'avro', 'csv', 'csv_with_headers']) expect(() => synth({ compaction: 'true', format, schemaFile: 'test/events/order.avsc' })).not.toThrow();
    expect(() => synth({ compactionTargetMb: '512' }, { nag: false })).toThrow(/compactionTargetMb='512': only with compaction=true/);
    expect(() => synth({ compactedPrefix: 'lake/' }, { nag: false })).toThrow(/compactedPrefix='lake\/': only with compaction=true/);
    expect(() => synth({ compaction: 'true', format: 'parquet', schemaFile: 'test/events/order.avsc', compactionMemoryMb: '512' }, { nag: false })).toThrow(/compactionMemoryMb='?512'?: Parquet compaction needs at least 1024/);
    expect(() => synth({ compaction: 'true', catalog: 'true', topics: 'orders,orders_compacted' }, { nag: false })).toThrow(/catalogTables: table 'orders_compacted' is also the name of the compacted view of table 'orders'/);
    expect(() => synth({ compaction: 'true', bucketName: 'lake', crossAccountRoleArn: 'arn:aws:iam::444455556666:role/writer' }, { nag: false })).toThrow(/compaction='true': not with crossAccountRoleArn/);
    expect(() => synth({ compaction: 'true', bucketName: 'lake', s3CredentialsSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:keys-AbCdEf' }, { nag: false })).toThrow(/compaction='true': not with s3CredentialsSecretArn/);
  });

  it('alarm periods cover the schedule: a run publishes once, so a lag alarm over two periods can fire whatever the schedule', () => {
    for (const [minutes, period] of [['15', 900], ['60', 3600], ['5', 900]] as const) {
      const s = synth({ compaction: 'true', compactionScheduleMinutes: minutes }, { nag: false });
      const lag = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).find((a) => a.Properties.MetricName === 'CompactionLag')!;
      expect([lag.Properties.Period, lag.Properties.EvaluationPeriods, lag.Properties.Threshold], minutes).toEqual([period, 2, Number(minutes) * 60 * 4]);
    }
  });

  it('the schema file is bundled with the compactor too, where the environment it shares with the sink says', () => {
    const s = synth({ compaction: 'true', format: 'parquet', schemaFile: 'test/events/order.avsc' }, { bundle: true });
    const fns = Object.values(s.template.findResources('AWS::Lambda::Function')) as { Properties: { Environment?: { Variables?: Record<string, string> }; Code: { S3Key: string } } }[];
    const compactor = fns.find((f) => f.Properties.Environment?.Variables?.COMPACTED_PREFIX)!;
    expect(compactor.Properties.Environment!.Variables!.AVRO_SCHEMA_FILE).toBe('/var/task/value-schema.avsc');
    const asm = s.app.synth().directory;
    const assetDir = `asset.${compactor.Properties.Code.S3Key.replace(/\.zip$/, '')}`;
    expect(readdirSync(join(asm, assetDir)).sort()).toEqual(['index.mjs', 'index.mjs.map', 'value-schema.avsc']);
    expect(readFileSync(join(asm, assetDir, 'value-schema.avsc'), 'utf8')).toBe(readFileSync('test/events/order.avsc', 'utf8'));
    expect(() => synth({ compaction: 'true', fields: 'value,key' })).toThrow(/compaction='true': fields=value,key: the compactor deduplicates records by offset/);
    expect(() => synth({ compaction: 'true', keyTemplate: '{{topic}}/{{topic}}+{{partition}}+{{start_offset}}' })).toThrow(/compaction='true': keyTemplate has no time directory with the year/);
  });

  it('without compaction=true nothing of it', () => {
    const s = synth({});
    expect(Object.keys(s.template.findResources('AWS::Events::Rule'))).toEqual([]);
  });
});
