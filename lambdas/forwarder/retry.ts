/**
 * The forwarder's one retry policy for Kinesis: which failures of a whole PutRecords call are worth another
 * attempt, and how long to wait before it. The SDK client makes one attempt per call (kinesis-client.ts), so
 * PUT_MAX_ATTEMPTS is the only count and attempts never multiply.
 */

/** Kinesis throttling and service-side faults (the error's name, as the SDK sets it from the response). */
const RETRYABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException', 'LimitExceededException', 'KMSThrottlingException',
  'ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded',
  'InternalFailure', 'InternalFailureException', 'InternalServerError', 'ServiceUnavailable', 'ServiceUnavailableException',
  'RequestTimeout', 'RequestTimeoutException',
  // The HTTP handler's own timeouts (PUT_TIMEOUT_MS): connection not established, or no complete answer in time.
  'TimeoutError',
]);

/** Network failures of Node's HTTP stack: the request may not have reached Kinesis, or its answer was lost. */
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True for a failure that another attempt may cure: throttling (also of the stream's KMS key), a 5xx or 429
 * answer, a timeout, a reset or refused connection. Anything else — the stream does not exist, access denied,
 * a validation error, bad credentials — fails at once: waiting would not change the answer.
 */
export function isRetryable(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 3) return false;
  const e = err as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown }; $retryable?: unknown; cause?: unknown };
  if (typeof e.name === 'string' && RETRYABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && RETRYABLE_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  if (e.$retryable !== undefined && e.$retryable !== null) return true;
  // Node wraps some socket errors (fetch-style "TypeError: terminated" with the reset as its cause).
  return e.cause !== undefined && isRetryable(e.cause, depth + 1);
}

/**
 * Exponential backoff with full jitter: before attempt n (n ≥ 2) wait uniformly in [0, min(max, base · 2^(n-2))).
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  return random() * Math.min(maxMs, baseMs * 2 ** (attempt - 2));
}
