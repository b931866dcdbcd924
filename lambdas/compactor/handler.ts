/** Lambda entry point of the compactor (scheduled). Configuration errors fail the cold start with every problem listed. */
import { createCompactorHandler } from './app.ts';

export const handler = createCompactorHandler();
