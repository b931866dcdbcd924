import type { KinesisClient, PutRecordsCommandInput, PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KinesisEntry } from '../../../lambdas/forwarder/document.ts';
import { putAll, PutRecordsError, type PutStats } from '../../../lambdas/forwarder/put-records.ts';
import type { SinkRecord } from '../../../lambdas/shared/convert.ts';
import { SinkError } from '../../../lambdas/shared/errors.ts';

const THROTTLED = 'ProvisionedThroughputExceededException';
const INTERNAL = 'InternalFailure';
const MESSAGES: Record<string, string> = {
  [THROTTLED]: 'Rate exceeded for shard shardId-000000000001 in stream orders-stream under account 123456789012.',
  [INTERNAL]: 'Internal service failure.',
};

/** Per call, per record of that call: null = accepted, else the error code. Calls past the script accept everything. */
type Script = (string | null)[][];

interface SentCall {
  readonly stream: string | undefined;
  /** Data of each record as text (the tests' entries hold their id). */
  readonly data: string[];
  readonly partitionKeys: string[];
}

/** A KinesisClient stand-in: records each PutRecords input and answers per the script. */
function fakeKinesis(script: Script | ((call: number, input: PutRecordsCommandInput) => PutRecordsResultEntry[]), onSend?: (call: number) => Promise<void>) {
  const calls: SentCall[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: PutRecordsCommandInput }) => {
      expect(command.constructor.name).toBe('PutRecordsCommand');
      const input = command.input;
      const call = calls.length;
      const records = input.Records ?? [];
      calls.push({
        stream: input.StreamName,
        data: records.map((r) => Buffer.from(r.Data!).toString('utf8')),
        partitionKeys: records.map((r) => r.PartitionKey!),
      });
      await onSend?.(call);
      const results: PutRecordsResultEntry[] = typeof script === 'function'
        ? script(call, input)
        : records.map((_, i) => {
          const code = script[call]?.[i] ?? null;
          return code === null
            ? { SequenceNumber: `4966914628532118739484396071128903625176653187084386${String(call * 1000 + i).padStart(4, '0')}`, ShardId: 'shardId-000000000001' }
            : { ErrorCode: code, ErrorMessage: MESSAGES[code] };
        });
      return { Records: results, FailedRecordCount: results.filter((r) => r.ErrorCode).length, $metadata: {} };
    },
  };
  return { client: client as unknown as KinesisClient, calls };
}

/** Entries whose data is their id ("r0", "r1", …) and whose partition key is "k<id>". */
const entries = (n: number, from = 0): KinesisEntry[] => Array.from({ length: n }, (_, i) => ({
  data: Buffer.from(`r${from + i}`),
  partitionKey: `k${from + i}`,
  record: {} as SinkRecord,
}));

const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `r${from + i}`);

const CFG = { streamName: 'orders-stream', putMaxAttempts: 8, putBaseDelayMs: 100, putMaxDelayMs: 1_000 };

/** A sleep that records its delays and returns at once. */
function recordingSleep() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => { delays.push(ms); } };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('putAll: accepted records', () => {
  it('sends all entries in one call with the stream name, data and partition keys', async () => {
    // Prepare
    const { client, calls } = fakeKinesis([]);
    const { delays, sleep } = recordingSleep();

    // Act
    const stats = await putAll(client, CFG, entries(3), sleep);

    // Assess
    expect(calls).toEqual([{ stream: 'orders-stream', data: ['r0', 'r1', 'r2'], partitionKeys: ['k0', 'k1', 'k2'] }]);
    expect(stats).toEqual<PutStats>({ calls: 1, retriedEntries: 0, retriedCalls: 0, failedCodes: {}, callErrors: {} });
    expect(delays).toEqual([]);
  });

  it('makes no call for no entries', async () => {
    // Prepare
    const { client, calls } = fakeKinesis([]);

    // Act
    const stats = await putAll(client, CFG, [], async () => {});

    // Assess
    expect(calls).toEqual([]);
    expect(stats).toEqual<PutStats>({ calls: 0, retriedEntries: 0, retriedCalls: 0, failedCodes: {}, callErrors: {} });
  });
});

describe('putAll: partial failures', () => {
  it('re-sends only the refused entries, in their original order, and counts retries and error codes', async () => {
    // Prepare: call 1 refuses r1, r3, r4; call 2 (r1, r3, r4) refuses r4 again; call 3 accepts it.
    const { client, calls } = fakeKinesis([
      [null, THROTTLED, null, INTERNAL, THROTTLED, null],
      [null, null, THROTTLED],
    ]);
    const { delays, sleep } = recordingSleep();

    // Act
    const stats = await putAll(client, CFG, entries(6), sleep);

    // Assess
    expect(calls.map((c) => c.data)).toEqual([['r0', 'r1', 'r2', 'r3', 'r4', 'r5'], ['r1', 'r3', 'r4'], ['r4']]);
    expect(calls.map((c) => c.partitionKeys)).toEqual([['k0', 'k1', 'k2', 'k3', 'k4', 'k5'], ['k1', 'k3', 'k4'], ['k4']]);
    expect(stats).toEqual<PutStats>({ calls: 3, retriedEntries: 4, retriedCalls: 0, failedCodes: { [THROTTLED]: 3, [INTERNAL]: 1 }, callErrors: {} });
    expect(delays).toHaveLength(2);
  });

  it('never re-sends an accepted entry: every entry is accepted exactly once', async () => {
    // Prepare: each call refuses every other entry of what it gets.
    const accepted: string[] = [];
    const { client } = fakeKinesis((_call, input) => (input.Records ?? []).map((r, i) => {
      if (i % 2 === 1) return { ErrorCode: THROTTLED, ErrorMessage: MESSAGES[THROTTLED] };
      accepted.push(Buffer.from(r.Data!).toString('utf8'));
      return { SequenceNumber: '1', ShardId: 'shardId-000000000000' };
    }));

    // Act
    const stats = await putAll(client, CFG, entries(20), async () => {});

    // Assess
    expect([...accepted].sort()).toEqual(ids(0, 20).sort());
    // Calls of 20, 10, 5, 2 and 1 entries: 10, 5, 2, 1 and 0 of them refused.
    expect(stats).toEqual<PutStats>({ calls: 5, retriedEntries: 10 + 5 + 2 + 1, retriedCalls: 0, failedCodes: { [THROTTLED]: 18 }, callErrors: {} });
  });
});

describe('putAll: backoff with full jitter', () => {
  // Attempts 2..7 wait up to min(1000, 100 · 2^(attempt - 2)).
  const CAPS = [100, 200, 400, 800, 1_000, 1_000];
  /** Six calls that refuse r0, then one that accepts it. */
  const sixRefusals = (): Script => Array.from({ length: 6 }, () => [THROTTLED]);

  it('waits 0 when Math.random gives 0', async () => {
    // Prepare
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { client } = fakeKinesis(sixRefusals());
    const { delays, sleep } = recordingSleep();

    // Act
    await putAll(client, CFG, entries(1), sleep);

    // Assess
    expect(delays).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('waits up to the cap when Math.random gives its largest value', async () => {
    // Prepare
    const largest = 1 - 2 ** -53;
    vi.spyOn(Math, 'random').mockReturnValue(largest);
    const { client } = fakeKinesis(sixRefusals());
    const { delays, sleep } = recordingSleep();

    // Act
    await putAll(client, CFG, entries(1), sleep);

    // Assess
    expect(delays).toHaveLength(CAPS.length);
    delays.forEach((d, i) => {
      expect(d).toBeLessThanOrEqual(CAPS[i]);
      expect(d).toBeCloseTo(CAPS[i], 9);
    });
  });

  it('scales Math.random by the cap of each attempt', async () => {
    // Prepare
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { client } = fakeKinesis(sixRefusals());
    const { delays, sleep } = recordingSleep();

    // Act
    await putAll(client, CFG, entries(1), sleep);

    // Assess
    expect(delays).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it('keeps every real jittered delay within [0, cap]', async () => {
    // Prepare
    const cfg = { ...CFG, putMaxAttempts: 30, putBaseDelayMs: 7, putMaxDelayMs: 300 };
    const { client } = fakeKinesis(Array.from({ length: 29 }, () => [THROTTLED, INTERNAL]));
    const { delays, sleep } = recordingSleep();

    // Act
    await putAll(client, cfg, entries(2), sleep);

    // Assess
    expect(delays).toHaveLength(29);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(Math.min(300, 7 * 2 ** i));
    });
  });

  it('does not wait before the first attempt of each chunk', async () => {
    // Prepare
    const { client } = fakeKinesis([]);
    const { delays, sleep } = recordingSleep();

    // Act
    await putAll(client, CFG, entries(1200), sleep);

    // Assess
    expect(delays).toEqual([]);
  });
});

describe('putAll: failures', () => {
  it('throws PutRecordsError naming the stream and the error code once attempts are exhausted', async () => {
    // Prepare: r0 is refused on every call.
    const cfg = { ...CFG, putMaxAttempts: 3 };
    const { client, calls } = fakeKinesis(Array.from({ length: 10 }, () => [THROTTLED, null, null, null]));
    const { delays, sleep } = recordingSleep();

    // Act
    const err = await putAll(client, cfg, entries(4), sleep).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as Error).message).toBe(
      '1 of 4 records still refused by stream orders-stream after 3 attempts '
        + '(ProvisionedThroughputExceededException: Rate exceeded for shard shardId-000000000001 in stream orders-stream under account 123456789012.); '
        + 'the batch fails so the event source retries it',
    );
    expect(calls.map((c) => c.data)).toEqual([['r0', 'r1', 'r2', 'r3'], ['r0'], ['r0']]);
    expect(delays).toHaveLength(2);
  });

  it('with PUT_MAX_ATTEMPTS=1, fails at the first refusal without waiting', async () => {
    // Prepare
    const cfg = { ...CFG, putMaxAttempts: 1 };
    const { client, calls } = fakeKinesis([[null, INTERNAL, INTERNAL]]);
    const { delays, sleep } = recordingSleep();

    // Act
    const err = await putAll(client, cfg, entries(3), sleep).then(() => undefined, (e: unknown) => e);

    // Assess
    expect((err as Error).message).toBe(
      '2 of 3 records still refused by stream orders-stream after 1 attempts (InternalFailure: Internal service failure.); '
        + 'the batch fails so the event source retries it',
    );
    expect(calls).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('throws PutRecordsError when the answer has fewer results than records', async () => {
    // Prepare
    const { client, calls } = fakeKinesis(() => [{ SequenceNumber: '1', ShardId: 'shardId-000000000000' }, { SequenceNumber: '2', ShardId: 'shardId-000000000000' }]);

    // Act
    const err = await putAll(client, CFG, entries(3), async () => {}).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toBe('PutRecords answered 2 results for 3 records');
    expect(calls).toHaveLength(1);
  });

  it('throws PutRecordsError when the answer has no Records', async () => {
    // Prepare
    const client = { send: async () => ({ FailedRecordCount: 0, $metadata: {} }) } as unknown as KinesisClient;

    // Act
    const err = await putAll(client, CFG, entries(2), async () => {}).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toBe('PutRecords answered 0 results for 2 records');
  });

  it('fails at once, without re-sending, when the call fails with an error waiting would not cure', async () => {
    // Prepare
    let sends = 0;
    const failure = Object.assign(new Error('Stream orders-stream under account 123456789012 not found.'), { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } });
    const client = { send: async () => { sends++; throw failure; } } as unknown as KinesisClient;

    // Act
    const err = await putAll(client, CFG, entries(2), async () => {}).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toBe(
      'PutRecords to stream orders-stream failed with ResourceNotFoundException, which is not retried (Stream orders-stream under account 123456789012 not found.); the batch fails',
    );
    expect((err as Error).cause).toBe(failure);
    expect(sends).toBe(1);
  });
});

describe('putAll: chunks', () => {
  it('sends chunks one after another: the next chunk only after every entry of the previous one is accepted', async () => {
    // Prepare: 700 entries → chunks of 500 and 200; the first call refuses r10.
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const { client, calls } = fakeKinesis([[...Array(10).fill(null), THROTTLED]], async (call) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      log.push(`start ${call}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      log.push(`end ${call}`);
      inFlight--;
    });
    const sleep = async (ms: number) => { log.push(`sleep ${ms >= 0 && ms <= 100 ? 'ok' : ms}`); };

    // Act
    const stats = await putAll(client, CFG, entries(700), sleep);

    // Assess
    expect(calls.map((c) => c.data.length)).toEqual([500, 1, 200]);
    expect(calls[1].data).toEqual(['r10']);
    expect(calls[2].data).toEqual(ids(500, 700));
    expect(log).toEqual(['start 0', 'end 0', 'sleep ok', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(maxInFlight).toBe(1);
    expect(stats).toEqual<PutStats>({ calls: 3, retriedEntries: 1, retriedCalls: 0, failedCodes: { [THROTTLED]: 1 }, callErrors: {} });
  });

  it('does not send the next chunk when a chunk fails', async () => {
    // Prepare
    const cfg = { ...CFG, putMaxAttempts: 2 };
    const { client, calls } = fakeKinesis([[THROTTLED], [THROTTLED]]);

    // Act
    const err = await putAll(client, cfg, entries(501), async () => {}).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect(calls.map((c) => c.data.length)).toEqual([500, 1]);
    expect(calls[1].data).toEqual(['r0']);
  });

  it('reports every entry an answer accepted, also those of the chunk that then fails, and never a refused one', async () => {
    // Prepare: 1100 entries → chunks of 500, 500, 100; chunk 1 is accepted; in chunk 2 the first answer refuses
    // r600 and r900, the retry accepts r600 and refuses r900 again, and attempts run out.
    const cfg = { ...CFG, putMaxAttempts: 2 };
    const chunk2 = Array.from({ length: 500 }, (_, i) => (i === 100 || i === 400 ? THROTTLED : null));
    const { client, calls } = fakeKinesis([[], chunk2, [null, THROTTLED]]);
    const accepted: string[][] = [];

    // Act
    const err = await putAll(client, cfg, entries(1100), async () => {}, (ok) => accepted.push(ok.map((e) => e.data.toString())))
      .then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect(calls.map((c) => c.data.length)).toEqual([500, 500, 2]);
    expect(accepted).toEqual([ids(0, 500), ids(500, 1000).filter((id) => id !== 'r600' && id !== 'r900'), ['r600']]);
  });

  it('reports nothing for a call that failed as a whole: whether Kinesis wrote it is unknown', async () => {
    // Prepare
    const client = { send: async () => { throw Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }); } } as unknown as KinesisClient;
    const accepted: unknown[] = [];

    // Act
    const err = await putAll(client, CFG, entries(3), async () => {}, (ok) => accepted.push(ok)).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect(accepted).toEqual([]);
  });

  it('keeps the retry count per chunk: a later chunk has its own attempts', async () => {
    // Prepare: PUT_MAX_ATTEMPTS=2; each chunk needs exactly 2 attempts.
    const cfg = { ...CFG, putMaxAttempts: 2 };
    const { client, calls } = fakeKinesis([[THROTTLED], [null], [INTERNAL], [null]]);

    // Act
    const stats = await putAll(client, cfg, entries(501), async () => {});

    // Assess
    expect(calls.map((c) => c.data[0])).toEqual(['r0', 'r0', 'r500', 'r500']);
    expect(stats).toEqual<PutStats>({ calls: 4, retriedEntries: 2, retriedCalls: 0, failedCodes: { [THROTTLED]: 1, [INTERNAL]: 1 }, callErrors: {} });
  });
});

/** A KinesisClient stand-in whose calls fail as a whole per `fail(call)` (an error to throw, or null to answer). */
function failingKinesis(fail: (call: number) => Error | null) {
  const calls: string[][] = [];
  const client = {
    send: async (command: { input: PutRecordsCommandInput }) => {
      const records = command.input.Records ?? [];
      const call = calls.length;
      calls.push(records.map((r) => Buffer.from(r.Data!).toString('utf8')));
      const err = fail(call);
      if (err) throw err;
      return { Records: records.map((_, i) => ({ SequenceNumber: String(call * 1000 + i), ShardId: 'shardId-000000000000' })), FailedRecordCount: 0, $metadata: {} };
    },
  };
  return { client: client as unknown as KinesisClient, calls };
}

const sdkError = (name: string, status?: number, message = `${name} (injected)`) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
const netError = (code: string) => Object.assign(new Error(`socket: ${code}`), { code });

describe('putAll: calls that fail as a whole', () => {
  it.each([
    ['ProvisionedThroughputExceededException', sdkError('ProvisionedThroughputExceededException', 400)],
    ['LimitExceededException', sdkError('LimitExceededException', 400)],
    ['KMSThrottlingException', sdkError('KMSThrottlingException', 400)],
    ['InternalFailure (500)', sdkError('InternalFailure', 500)],
    ['a 503 of an unknown name', sdkError('UnknownError', 503)],
    ['a 429', sdkError('TooManyRequests', 429)],
    ['the handler\'s timeout', sdkError('TimeoutError')],
    ['a connection reset', netError('ECONNRESET')],
    ['a refused connection', netError('ECONNREFUSED')],
    ['a reset wrapped as the cause', Object.assign(new TypeError('terminated'), { cause: netError('ECONNRESET') })],
  ])('re-sends the whole call after %s, with backoff, and counts it', async (_name, error) => {
    // Prepare: the first two calls fail, the third is accepted.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { client, calls } = failingKinesis((call) => (call < 2 ? error : null));
    const { delays, sleep } = recordingSleep();

    // Act
    const stats = await putAll(client, CFG, entries(3), sleep);

    // Assess
    expect(calls).toEqual([ids(0, 3), ids(0, 3), ids(0, 3)]);
    expect(delays).toEqual([50, 100]);
    expect(stats).toEqual<PutStats>({ calls: 3, retriedEntries: 6, retriedCalls: 2, failedCodes: {}, callErrors: { [error.name]: 2 } });
  });

  it('gives up after PUT_MAX_ATTEMPTS attempts with PutRecordsError carrying the last error', async () => {
    // Prepare
    const cfg = { ...CFG, putMaxAttempts: 4 };
    const failure = sdkError('ProvisionedThroughputExceededException', 400, 'Rate exceeded for stream orders-stream under account 123456789012.');
    const { client, calls } = failingKinesis(() => failure);
    const { delays, sleep } = recordingSleep();

    // Act
    const err = await putAll(client, cfg, entries(2), sleep).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toBe(
      'PutRecords to stream orders-stream failed 4 times, last with ProvisionedThroughputExceededException '
        + '(Rate exceeded for stream orders-stream under account 123456789012.); the batch fails so the event source retries it',
    );
    expect((err as Error).cause).toBe(failure);
    expect(calls).toHaveLength(4);
    expect(delays).toHaveLength(3);
  });

  it.each([
    ['AccessDeniedException', sdkError('AccessDeniedException', 400)],
    ['ValidationException', sdkError('ValidationException', 400)],
    ['InvalidArgumentException', sdkError('InvalidArgumentException', 400)],
    ['KMSAccessDeniedException', sdkError('KMSAccessDeniedException', 400)],
    ['KMSDisabledException', sdkError('KMSDisabledException', 400)],
    ['UnrecognizedClientException', sdkError('UnrecognizedClientException', 400)],
    ['a plain Error', new Error('bug')],
  ])('does not retry %s', async (_name, error) => {
    // Prepare
    const { client, calls } = failingKinesis(() => error);
    const { delays, sleep } = recordingSleep();

    // Act
    const err = await putAll(client, CFG, entries(2), sleep).then(() => undefined, (e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(PutRecordsError);
    expect((err as Error).message).toMatch(new RegExp(`^PutRecords to stream orders-stream failed with ${error.name}, which is not retried`));
    expect(calls).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('shares one attempt count between refused entries and failed calls, and re-sends only what is pending', async () => {
    // Prepare: call 0 refuses r1; call 1 (r1 alone) fails whole; call 2 accepts r1.
    const { client: partial } = fakeKinesis([[null, THROTTLED, null]]);
    let call = 0;
    const sent: string[][] = [];
    const client = {
      send: async (command: { input: PutRecordsCommandInput; constructor: { name: string } }) => {
        sent.push((command.input.Records ?? []).map((r) => Buffer.from(r.Data!).toString('utf8')));
        if (call++ === 1) throw netError('ECONNRESET');
        return partial.send(command as never);
      },
    } as unknown as KinesisClient;

    // Act
    const stats = await putAll(client, { ...CFG, putMaxAttempts: 3 }, entries(3), async () => {});

    // Assess
    expect(sent).toEqual([['r0', 'r1', 'r2'], ['r1'], ['r1']]);
    expect(stats).toEqual<PutStats>({ calls: 3, retriedEntries: 2, retriedCalls: 1, failedCodes: { [THROTTLED]: 1 }, callErrors: { Error: 1 } });
  });
});
