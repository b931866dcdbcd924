/** Lambda entry point of the serverless replay (app.ts). Configuration errors fail the cold start with every problem listed. */
import { createReplayHandler } from './app.ts';

export const handler = createReplayHandler();
