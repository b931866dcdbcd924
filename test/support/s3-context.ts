import { describe, inject, it } from 'vitest';
import type { S3Endpoint } from './versitygw.ts';

/** The S3 server that test/support/global-setup.ts started for the whole run. */
export type ProvidedS3 = S3Endpoint;

declare module 'vitest' {
  export interface ProvidedContext {
    s3: ProvidedS3 | null;
    s3Unavailable: string | null;
  }
}

let reasonPrinted = false;

/** Why there is no S3 server, or undefined when there is one. */
export function s3SkipReason(): string | undefined {
  if (inject('s3')) return undefined;
  // undefined (not null) means the globalSetup never ran for this project.
  return inject('s3Unavailable') ?? 'test/support/global-setup.ts is not in this Vitest project\'s globalSetup';
}

/** The shared S3 server, or undefined (with the reason printed once) when integration tests must skip. */
export function s3OrSkip(): ProvidedS3 | undefined {
  const s3 = inject('s3');
  if (s3) return s3;
  if (!reasonPrinted) {
    reasonPrinted = true;
    console.warn(`[s3] skipping S3 integration tests: ${s3SkipReason() ?? 'unknown reason'}`);
  }
  return undefined;
}

/**
 * describe() that runs only when the shared S3 server is up; the factory receives it.
 * When it is not, the suite shows up as skipped with the reason in its name, and the factory is not called,
 * so suite bodies may use the server unconditionally.
 */
export function describeS3(name: string, factory: (s3: ProvidedS3) => void): void {
  const s3 = s3OrSkip();
  if (s3) {
    describe(name, () => factory(s3));
    return;
  }
  describe.skip(`${name} (S3 unavailable)`, () => {
    it(`needs an S3 server: ${s3SkipReason() ?? 'unknown reason'}`, () => {});
  });
}
