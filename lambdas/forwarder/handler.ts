/** Lambda entry point of the S3 Tables stack's forwarder (Kafka → Kinesis). */
import { createForwarderHandler } from './app.ts';

export const handler = createForwarderHandler();
