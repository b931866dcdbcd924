/**
 * The serverless replay's function, driven as its state machine drives it (plan, then each stream's 'replay' again
 * until it says done), against versitygw and a real Kafka broker: invocations that stop at their deadline resume
 * from the checkpoint, and every record lands once, in order. The state machine's shape is checked on the synthesized
 * template (test/lib/replay-stack.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { expect, inject, it } from 'vitest';
import { createReplayHandler, STOP_MARGIN_MS } from '../../lambdas/replay/app.ts';
import { loadSinkConfig } from '../../lambdas/shared/config.ts';
import { SinkPipeline } from '../../lambdas/shared/pipeline.ts';
import { kafkaEvent } from '../support/events.ts';
import { createTopic } from '../support/kafka.ts';
import { describeKafka } from '../support/kafka-context.ts';
import { PARTITIONS, readTopic, records, spec } from '../support/replay.ts';
import { createBucket, s3ClientFor } from '../support/versitygw.ts';

describeKafka('serverless replay function, driven as its state machine', (kafka) => {
  const s3 = inject('s3');
  if (!s3) throw new Error(`needs the S3 server: ${inject('s3Unavailable')}`);
  const client = s3ClientFor(s3);

  it('plans, replays each stream over invocations that stop at their deadline, and lands every record once', async () => {
    // Prepare
    const source = 'replay-fn-source';
    const state = 'replay-fn-state';
    await createBucket(s3, source);
    await createBucket(s3, state);
    const pipeline = new SinkPipeline(loadSinkConfig({ BUCKET_NAME: source, S3_ENDPOINT: s3.endpoint, FORMAT: 'parquet' }), client);
    const sent = records(300);
    expect((await pipeline.handle(kafkaEvent(sent.map((r) => spec('orders', r))))).deadLettered).toBe(0);
    await pipeline.close();
    const topic = `replay-fn-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka.bootstrap, topic, PARTITIONS);
    const handler = createReplayHandler({
      env: { SOURCE_BUCKET: source, STATE_BUCKET: state, BOOTSTRAP_SERVERS: kafka.bootstrap, KAFKA_AUTH: 'none', TARGET_TOPIC: topic, AWS_REGION: 'us-east-1' },
      s3: client,
    });
    const input = { recordsPerPoll: 25, maxMbPerSecond: 0.05 };

    // Act: the state machine's loop, each invocation with 400 ms before its stop margin.
    const plan = await handler({ action: 'plan', input, executionName: 'run-1' }) as { replayId: string; streamsKey: string; streams: number };
    const items = JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: state, Key: plan.streamsKey }))).Body!.transformToString()) as { stream: string }[];
    let invocations = 0;
    for (const { stream } of items) {
      for (let done = false; !done;) {
        invocations++;
        const r = await handler({ action: 'replay', replayId: plan.replayId, stream, input }, { getRemainingTimeInMillis: () => STOP_MARGIN_MS + 400 }) as { done: boolean };
        done = r.done;
        expect(invocations).toBeLessThan(200);
      }
    }
    const again = await handler({ action: 'plan', input, executionName: 'run-2' }).catch((err: Error) => err);
    const resumed = await handler({ action: 'plan', input: { ...input, replayId: 'run-1' }, executionName: 'run-3' }) as { replayId: string };

    // Assess
    expect(plan).toMatchObject({ replayId: 'run-1', streamsKey: 'replays/run-1/streams.json', streams: PARTITIONS });
    expect(items.map((i) => i.stream).sort()).toEqual(['orders/0', 'orders/1', 'orders/2']);
    expect(invocations).toBeGreaterThan(items.length);
    const landed = await readTopic(kafka.bootstrap, topic, sent.length);
    for (let p = 0; p < PARTITIONS; p++) {
      const values = landed.filter((m) => m.partition === p).sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((m) => JSON.parse(Buffer.from(m.value as Buffer).toString().replace(/(\d{16,})/g, '"$1"')));
      expect(values).toEqual(sent.filter((r) => r.partition === p).map((r) => JSON.parse(r.value.replace(/(\d{16,})/g, '"$1"'))));
    }
    // A new execution name is a new run; an execution with the same replayId finds its plan.
    expect(again).toMatchObject({ replayId: 'run-2' });
    expect(resumed.replayId).toBe('run-1');
  }, 180_000);

  it('refuses a bad execution input with every problem named', async () => {
    const handler = createReplayHandler({ env: { SOURCE_BUCKET: 'src', STATE_BUCKET: 'state', BOOTSTRAP_SERVERS: kafka.bootstrap, KAFKA_AUTH: 'none' }, s3: client });
    const err = await handler({ action: 'plan', input: { replayId: 'a b', recordsPerPoll: 0, fromTime: 'yesterday', colour: 'red' }, executionName: 'x' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    for (const problem of ['replayId: must be 1-80 of A-Z a-z 0-9 . _ -', 'recordsPerPoll: must be an integer from 1 to 100000', 'fromTime: must be an ISO-8601 time', 'Unrecognized key: "colour"']) {
      expect((err as Error).message).toContain(problem);
    }
    await expect(handler({ action: 'plan', input: { format: 'csv' }, executionName: 'x' })).rejects.toThrow(/format, order, csvHeader: only for foreign objects/);
  });
});
