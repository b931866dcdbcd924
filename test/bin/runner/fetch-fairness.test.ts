/**
 * No partition starves behind a backlog (bin/runner/kafka-source.ts `rotateFetch`). A broker fills a fetch response
 * in the request's order up to its byte limit, and the client asks in the same order every time: before the fix, a
 * 1,000,000-record soak's last partition was read only after the four before it were drained (1,237 s).
 * 1. The rotation: over any n consecutive fetches every partition is first once, and nothing is lost or repeated.
 * 2. On a real broker, with a backlog much larger than a fetch: every partition's first record comes within the
 *    first few fetches' worth, not after the other partitions' backlog.
 */
import { randomUUID } from 'node:crypto';
import { Producer, ProduceAcks } from '@platformatic/kafka';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FETCH_MAX_BYTES, FETCH_PARTITION_MAX_BYTES, KafkaSource, rotateFetch } from '../../../bin/runner/kafka-source.ts';
import { describeKafka } from '../../support/kafka-context.ts';
import { createTopic } from '../../support/kafka.ts';

describe('rotateFetch', () => {
  it('puts every partition first once in any n consecutive fetches, keeping all of them once', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 40 }), fc.nat({ max: 10_000 }), (n, from) => {
      const parts = Array.from({ length: n }, (_, i) => `p${i}`);
      const firsts = new Set<string>();
      for (let t = from; t < from + n; t++) {
        const r = rotateFetch(parts, t);
        expect([...r].sort()).toEqual([...parts].sort());
        firsts.add(r[0]);
      }
      expect(firsts.size).toBe(n);
    }));
  });
});

describeKafka('KafkaSource on a real broker', ({ bootstrap }) => {
  it('never makes a partition with records left wait more than two fetches of the others', async () => {
    // Prepare: the soak's layout with the default fetch sizes: 4 partitions of small JSON-like values (100,000 of
    // 120 B, 3 MB a partition) and a 1-partition topic of 2 KiB values (2,000: 4 MB), asked for last.
    const id = randomUUID().slice(0, 8);
    const events = `fair-events-${id}`;
    const blobs = `fair-blobs-${id}`;
    await createTopic(bootstrap, events, 4);
    await createTopic(bootstrap, blobs, 1);
    const producer = new Producer({ clientId: 'fairness-test', bootstrapBrokers: [bootstrap], acks: ProduceAcks.ALL });
    const small = Buffer.alloc(120, 'e');
    const large = Buffer.alloc(2048, 'b');
    const perEvents = 100_000;
    const perBlobs = 2_000;
    // Sends of 1,000 small values and 20 large ones, as a mixed stream is produced.
    for (let i = 0; i < perEvents; i += 1000) {
      const messages = Array.from({ length: 1000 }, (_, j) => ({ topic: events, partition: j % 4, value: small }));
      for (let j = 0; j < (perBlobs * 1000) / perEvents; j++) messages.push({ topic: blobs, partition: 0, value: large });
      await producer.send({ messages });
    }
    await producer.close();
    const total = perEvents + perBlobs;
    const source = new KafkaSource({ brokers: [bootstrap], topics: [events, blobs], groupId: `fair-${id}` });

    // Act: every record; for each partition, the most value bytes of other partitions handed out between two of its
    // records (or before its first), while it had records left.
    const since = new Map<string, number>();
    const worst = new Map<string, number>();
    const left = new Map<string, number>([...[0, 1, 2, 3].map((p) => [`${events}/${p}`, perEvents / 4] as const), [`${blobs}/0`, perBlobs]]);
    for (const tp of left.keys()) since.set(tp, 0);
    let n = 0;
    try {
      for await (const r of source.records()) {
        const tp = `${r.topic}/${r.partition}`;
        worst.set(tp, Math.max(worst.get(tp) ?? 0, since.get(tp)!));
        since.set(tp, 0);
        left.set(tp, left.get(tp)! - 1);
        for (const [other, rest] of left) if (other !== tp && rest > 0) since.set(other, since.get(other)! + (r.value?.length ?? 0));
        if (++n >= total) break;
      }
    } finally {
      await source.close();
    }

    // Assess: every record read; no partition waited behind more than 8 MiB of the others (README, "Local runner":
    // two fetch responses). With 8 MiB per partition in one response, a partition waited behind 9 MB.
    expect(n).toBe(total);
    expect(2 * FETCH_MAX_BYTES).toBeLessThanOrEqual(8 * 1024 * 1024);
    for (const [tp, bytes] of worst) expect(bytes, tp).toBeLessThan(8 * 1024 * 1024);
    // In practice one share (FETCH_PARTITION_MAX_BYTES) of each other partition per response: measured 0.97 MB here
    // (1 MiB shares: about 4 MB; the bound allows two shares of each).
    for (const [tp, bytes] of worst) expect(bytes, tp).toBeLessThan(2 * 4 * FETCH_PARTITION_MAX_BYTES);
  }, 120_000);
});
