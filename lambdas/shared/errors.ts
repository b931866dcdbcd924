/**
 * Error hierarchy of the sink. Configuration and event errors fail the invocation (the event source retries or
 * the function fails to initialise); record-level problems never throw — they become dead letters.
 */
export class SinkError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One or more settings are invalid. Every problem is listed so the user can fix them all at once. */
export class ConfigError extends SinkError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], subject = 'sink configuration') {
    super(`Invalid ${subject} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** The invocation event is not a Kafka event source event (not a problem of one record). */
export class EventShapeError extends SinkError {}

/** Writing to S3 failed after the SDK's retries: thrown so the event source retries the whole batch. */
export class UploadError extends SinkError {}

/** The schema registry could not answer (SCHEMA_REGISTRY): the batch fails and is retried, never a dead letter. */
export class RegistryUnavailableError extends SinkError {}

/** A problem with one record: carried to the dead-letter stage, never thrown out of the handler. */
export class RecordError extends SinkError {
  readonly stage: RecordStage;
  constructor(stage: RecordStage, message: string, options?: ErrorOptions) {
    super(message, options);
    this.stage = stage;
  }
}

export const RecordStages = ['decode', 'filter', 'convert', 'schema', 'partition', 'encode', 'limit'] as const;
export type RecordStage = (typeof RecordStages)[number];
