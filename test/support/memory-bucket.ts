/**
 * An in-memory bucket behind the S3 client interface the sink uses: PutObject (with If-Match / If-None-Match, as
 * S3 general-purpose buckets enforce them), GetObject, DeleteObjects. Handler tests run without a server on it; the
 * scenario suite runs the same deliveries against versitygw.
 */
import { createHash } from 'node:crypto';

interface Command {
  readonly constructor: { readonly name: string };
  readonly input: Record<string, unknown>;
}

const s3Error = (name: string, status: number, message: string) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

export class MemoryBucket {
  readonly objects = new Map<string, Buffer>();
  readonly etags = new Map<string, string>();
  /** Each object's user metadata (x-amz-meta-*), as PutObject gave it. */
  readonly metadata = new Map<string, Record<string, string>>();
  /** Requests by command name. */
  readonly requests = new Map<string, number>();
  /** Called before each request: a test throws from it to inject a failure. */
  beforeRequest?: (name: string, key: string | undefined) => void | Promise<void>;

  async send(command: Command): Promise<object> {
    const name = command.constructor.name;
    const input = command.input;
    this.requests.set(name, (this.requests.get(name) ?? 0) + 1);
    await this.beforeRequest?.(name, input.Key as string | undefined);
    const key = input.Key as string;
    switch (name) {
      case 'PutObjectCommand': {
        const current = this.etags.get(key);
        if (input.IfNoneMatch === '*' && current !== undefined) throw s3Error('PreconditionFailed', 412, `${key} exists`);
        if (input.IfMatch !== undefined && input.IfMatch !== current) throw s3Error('PreconditionFailed', 412, `${key} changed`);
        const body = Buffer.from(input.Body as Uint8Array | string);
        const etag = `"${createHash('md5').update(body).update(String(Math.random())).digest('hex')}"`;
        this.objects.set(key, body);
        this.etags.set(key, etag);
        this.metadata.set(key, { ...((input.Metadata as Record<string, string> | undefined) ?? {}) });
        return { ETag: etag };
      }
      case 'GetObjectCommand': {
        const body = this.objects.get(key);
        if (!body) throw s3Error('NoSuchKey', 404, `${key} does not exist`);
        return { ETag: this.etags.get(key), Body: { transformToString: async () => body.toString('utf8') } };
      }
      case 'DeleteObjectsCommand': {
        const objects = (input.Delete as { Objects: { Key: string }[] }).Objects;
        for (const o of objects) {
          this.objects.delete(o.Key);
          this.etags.delete(o.Key);
        }
        return { Deleted: objects };
      }
      default:
        throw new Error(`memory bucket: ${name} is not supported`);
    }
  }

  /** Keys under a prefix, sorted. */
  keys(prefix: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Every dead-letter line under the prefix, parsed. */
  deadLetters(prefix = 'dead-letters/'): Record<string, unknown>[] {
    return this.keys(prefix).flatMap((k) => this.objects.get(k)!.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
  }

  /** The text of every data object under the prefix (uncompressed objects only). */
  text(prefix = 'topics/'): string {
    return this.keys(prefix).map((k) => this.objects.get(k)!.toString('utf8')).join('');
  }
}
