/** Lambda entry point of the direct-bucket sink. Configuration errors fail the cold start with every problem listed. */
import { createSinkHandler } from './app.ts';

export const handler = createSinkHandler();
// TRANSFORM_SQL: the engine opens and checks the statement during the function's init, not at its first batch.
await handler.ready();
