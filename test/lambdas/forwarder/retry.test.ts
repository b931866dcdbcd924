import { describe, expect, it } from 'vitest';
import { backoffDelay, isRetryable } from '../../../lambdas/forwarder/retry.ts';

const named = (name: string, status?: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('isRetryable', () => {
  it.each([
    ['throttling', named('ProvisionedThroughputExceededException', 400)],
    ['the account limit', named('LimitExceededException', 400)],
    ['KMS throttling', named('KMSThrottlingException', 400)],
    ['an internal failure', named('InternalFailure', 500)],
    ['any 5xx', named('SomethingNew', 502)],
    ['a 429', named('SomethingNew', 429)],
    ['a timeout of the HTTP handler', named('TimeoutError')],
    ['a reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a broken pipe', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
    ['a DNS failure', Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' })],
    ['an error the SDK marks retryable', Object.assign(named('Modeled', 400), { $retryable: {} })],
    ['a reset as the cause', new Error('terminated', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })],
  ])('retries %s', (_name, err) => {
    expect(isRetryable(err)).toBe(true);
  });

  it.each([
    ['a missing stream', named('ResourceNotFoundException', 400)],
    ['denied access', named('AccessDeniedException', 400)],
    ['a validation error', named('ValidationException', 400)],
    ['an invalid argument', named('InvalidArgumentException', 400)],
    ['expired credentials', named('ExpiredTokenException', 400)],
    ['a disabled KMS key', named('KMSDisabledException', 400)],
    ['a plain error', new Error('bug')],
    ['a string', 'boom'],
    ['null', null],
  ])('does not retry %s', (_name, err) => {
    expect(isRetryable(err)).toBe(false);
  });

  it('stops on a cycle of causes', () => {
    // Prepare
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;

    // Act
    const retryable = isRetryable(a);

    // Assess
    expect(retryable).toBe(false);
  });
});

describe('backoffDelay: full jitter under an exponential cap', () => {
  it.each([[2, 100], [3, 200], [4, 400], [5, 800], [6, 1000], [20, 1000]])('before attempt %i waits up to %i ms', (attempt, cap) => {
    expect(backoffDelay(attempt, 100, 1000, () => 1 - 2 ** -53)).toBeCloseTo(cap, 9);
    expect(backoffDelay(attempt, 100, 1000, () => 0)).toBe(0);
    expect(backoffDelay(attempt, 100, 1000, () => 0.5)).toBe(cap / 2);
  });
});
