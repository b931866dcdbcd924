/**
 * The serverless replay's function, invoked by its state machine (lib/replay-stack.ts):
 *   { action: 'plan', input, executionName }   → plans the run (or finds its saved plan) and writes the list of its
 *                                                 streams for the Distributed Map: { replayId, streamsKey, streams }
 *   { action: 'replay', replayId, stream, input } → replays one stream until it is done or the invocation is a
 *                                                 minute and a half from its timeout: { replayId, stream, done, … }
 * The state machine invokes 'replay' again for a stream that is not done; each invocation resumes from the stream's
 * checkpoint, sending nothing twice (replay.ts). Kafka is reached with MSK IAM: SASL/OAUTHBEARER over TLS, tokens
 * signed with the function's role by AWS's signer library (aws-msk-iam-sasl-signer-js).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import type { Context } from 'aws-lambda';
import { loadReplayEnv, parseReplayInput, replaySettings, type ReplayEnv } from './config.ts';
import { loadPlan, runReplay } from './replay.ts';
import { S3State } from './state.ts';
import { KafkaTarget, type KafkaConnection } from './target.ts';

export type ReplayEvent =
  | { readonly action: 'plan'; readonly input?: unknown; readonly executionName: string }
  | { readonly action: 'replay'; readonly replayId: string; readonly stream: string; readonly input?: unknown };

/** Time an invocation keeps for its last poll and checkpoint after it stops taking records. */
export const STOP_MARGIN_MS = 90_000;

const STREAMS_FILE = 'streams.json';

/** The Kafka connection of the environment: MSK IAM tokens from the signer, or plaintext. */
export function kafkaConnection(env: ReplayEnv): KafkaConnection {
  return {
    brokers: env.BOOTSTRAP_SERVERS,
    clientId: 'kafka-s3-replay',
    ...(env.KAFKA_AUTH === 'iam'
      ? { tls: {}, sasl: { mechanism: 'OAUTHBEARER', token: async () => (await generateAuthToken({ region: env.AWS_REGION })).token } }
      : {}),
  };
}

export interface ReplayAppDeps {
  readonly env?: Record<string, string | undefined>;
  readonly s3?: S3Client;
  /** A target per invocation (tests give one of a local broker). */
  readonly target?: (env: ReplayEnv) => KafkaTarget;
}

export function createReplayHandler(deps: ReplayAppDeps = {}) {
  const env = loadReplayEnv(deps.env ?? process.env);
  const s3 = deps.s3 ?? new S3Client({ region: env.AWS_REGION, ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT, forcePathStyle: true } : {}) });
  const stateOf = (replayId: string) => new S3State(s3, env.STATE_BUCKET, `${env.STATE_PREFIX}${replayId}/`);
  return async (event: ReplayEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const input = parseReplayInput(event.input);
    const settings = replaySettings(env, input);
    if (event.action === 'plan') {
      const replayId = input.replayId ?? event.executionName;
      const state = stateOf(replayId);
      const plan = await loadPlan(s3, state, settings);
      // The Distributed Map reads its items from this file (Step Functions' payload limit does not bound the streams).
      await state.write(STREAMS_FILE, JSON.stringify(plan.streams.map((s) => ({ stream: s.id }))));
      return { replayId, streamsKey: `${env.STATE_PREFIX}${replayId}/${STREAMS_FILE}`, streams: plan.streams.length, objects: plan.streams.reduce((n, s) => n + s.objects, 0) };
    }
    if (event.action !== 'replay') throw new Error(`unknown action ${JSON.stringify((event as { action?: unknown }).action)}: expected plan or replay`);
    const target = deps.target?.(env) ?? new KafkaTarget(kafkaConnection(env));
    try {
      const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
      const report = await runReplay({ s3, target, state: stateOf(event.replayId), log: (line) => console.log(line) }, settings, {
        streams: [event.stream], concurrency: 1, deadlineMs: Date.now() + Math.max(0, remaining - STOP_MARGIN_MS),
      });
      const s = report.streams[0];
      if (!s) throw new Error(`stream ${event.stream} is not in the plan of replay ${event.replayId}`);
      return { replayId: event.replayId, stream: event.stream, done: s.done, sent: s.sent, landed: s.landed, filtered: s.filtered };
    } finally {
      await target.close();
    }
  };
}
