/**
 * A local-directory object store behind the S3 client interface the sink uses: objects land as files at
 * `<dir>/<bucket>/<key>`, with the same keys as in S3, written atomically (temporary file, then rename).
 * Only single PutObject uploads are needed: the runner sets the multipart threshold above any batch.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

interface Command {
  readonly constructor: { readonly name: string };
  readonly input: { Bucket?: string; Key?: string; Body?: Uint8Array };
}

export class LocalObjectStore {
  readonly root: string;
  objects = 0;
  bytes = 0;
  private seq = 0;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async send(command: Command): Promise<Record<string, unknown>> {
    if (command.constructor.name !== 'PutObjectCommand') {
      throw new Error(`local object store: ${command.constructor.name} is not supported (only PutObject)`);
    }
    const { Bucket, Key, Body } = command.input;
    if (!Bucket || !Key || !Body) throw new Error('local object store: PutObject needs Bucket, Key and Body');
    const path = resolve(join(this.root, Bucket, Key));
    if (!path.startsWith(this.root + sep)) throw new Error(`local object store: key escapes the store: ${Key}`);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}-${++this.seq}`;
    await writeFile(tmp, Body);
    await rename(tmp, path);
    this.objects++;
    this.bytes += Body.length;
    return {};
  }

  destroy(): void {}
}
