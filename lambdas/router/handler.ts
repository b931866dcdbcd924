/** Lambda entry point of the Firehose transformation that routes records to the table of their topic. */
import { createRouterHandler } from './app.ts';

export const handler = createRouterHandler();
