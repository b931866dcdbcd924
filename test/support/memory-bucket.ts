/** An in-memory bucket behind the S3 client interface (PutObject only), for handler tests without a server. */
export class MemoryBucket {
  readonly objects = new Map<string, Buffer>();
  async send(command: { constructor: { name: string }; input: { Key: string; Body: Buffer } }): Promise<object> {
    if (command.constructor.name !== 'PutObjectCommand') throw new Error(`unexpected ${command.constructor.name}`);
    this.objects.set(command.input.Key, Buffer.from(command.input.Body));
    return {};
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
