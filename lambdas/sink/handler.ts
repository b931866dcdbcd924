/** Lambda entry point of the direct-bucket sink. Configuration errors fail the cold start with every problem listed. */
import { createSinkHandler } from './app.ts';

export const handler = createSinkHandler();
