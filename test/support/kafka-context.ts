import { describe, inject, it } from 'vitest';

/** The Kafka broker that test/support/global-setup.ts started for the whole run. */
export interface ProvidedKafka {
  /** host:port of the broker's PLAINTEXT listener, for bootstrapBrokers. */
  bootstrap: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafka: ProvidedKafka | null;
    kafkaUnavailable: string | null;
  }
}

let reasonPrinted = false;

/** Why there is no Kafka broker, or undefined when there is one. */
export function kafkaSkipReason(): string | undefined {
  if (inject('kafka')) return undefined;
  // undefined (not null) means the globalSetup never ran for this project.
  return inject('kafkaUnavailable') ?? 'test/support/global-setup.ts is not in this Vitest project\'s globalSetup';
}

/** The shared Kafka broker, or undefined (with the reason printed once) when Kafka integration tests must skip. */
export function kafkaOrSkip(): ProvidedKafka | undefined {
  const kafka = inject('kafka');
  if (kafka) return kafka;
  if (!reasonPrinted) {
    reasonPrinted = true;
    console.warn(`[kafka] skipping Kafka integration tests: ${kafkaSkipReason() ?? 'unknown reason'}`);
  }
  return undefined;
}

/**
 * describe() that runs only when the shared Kafka broker is up; the factory receives it.
 * When it is not, the suite shows up as skipped with the reason in its name, and the factory is not called,
 * so suite bodies may use the broker unconditionally.
 */
export function describeKafka(name: string, factory: (kafka: ProvidedKafka) => void): void {
  const kafka = kafkaOrSkip();
  if (kafka) {
    describe(name, () => factory(kafka));
    return;
  }
  describe.skip(`${name} (Kafka unavailable)`, () => {
    it(`needs a Kafka broker: ${kafkaSkipReason() ?? 'unknown reason'}`, () => {});
  });
}
