import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProvidedS3 } from './s3-context.ts';
import { infraPaths, REPO_ROOT } from './versitygw.ts';

const READER_SCRIPT = join(REPO_ROOT, 'test/readers/read_object.py');

/**
 * Reads an object with the independent Python reader (test/readers/read_object.py: pyarrow, fastavro,
 * Python csv/json) and returns its JSON document; see that script for the shape per format.
 * Integers beyond Number.MAX_SAFE_INTEGER come back as exact BigInts; all other numbers as numbers.
 */
export async function readObject(
  s3: ProvidedS3,
  bucket: string,
  key: string,
  format: string,
  compression?: string,
  separator?: string,
  opts?: { delimiter?: string },
): Promise<unknown> {
  const { pyVenvPython } = await infraPaths();
  try {
    await access(pyVenvPython, fsConstants.X_OK);
  } catch {
    throw new Error(
      `the reader venv is not installed at ${pyVenvPython}; install it with: bash scripts/infra/install-python.sh`,
    );
  }
  // `--name=value`: a value may start with "-" (a random secret key, a delimiter), which argparse would take for a flag.
  const args = [
    READER_SCRIPT,
    `--endpoint=${s3.endpoint}`,
    `--access-key=${s3.accessKeyId}`,
    `--secret-key=${s3.secretAccessKey}`,
    `--region=${s3.region}`,
    `--bucket=${bucket}`,
    `--key=${key}`,
    `--format=${format}`,
    ...(compression === undefined ? [] : [`--compression=${compression}`]),
    ...(separator === undefined ? [] : [`--separator=${separator}`]),
    ...(opts?.delimiter === undefined ? [] : [`--delimiter=${opts.delimiter}`]),
  ];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      pyVenvPython,
      args,
      {
        encoding: 'utf8',
        maxBuffer: 1024 * 1024 * 1024,
        // No instance-metadata lookups and no stray AWS profile: the reader gets explicit credentials.
        env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', PYTHONIOENCODING: 'utf-8' },
      },
      (err, out, errOut) => {
        if (err) {
          reject(new Error(`read_object.py failed for s3://${bucket}/${key} (${format}): ${errOut.trim() || err.message}`, { cause: err }));
        } else {
          resolve(out);
        }
      },
    );
  });
  return parseJsonExact(stdout);
}

type SourceReviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

/** JSON.parse that keeps integers outside the safe range exact, as BigInt (Node 24 passes the source text). */
export function parseJsonExact(text: string): unknown {
  const reviver: SourceReviver = (_key, value, context) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  };
  return JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
}
