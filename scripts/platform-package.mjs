// Puts the npm package of one platform (a native binary, such as @duckdb/node-bindings-linux-arm64) into a bundle's
// node_modules, whatever the machine that bundles: the version and sha512 integrity are the lockfile's, the tarball is
// fetched once from the npm registry into the per-user cache, checked, then unpacked.
//
//   node scripts/platform-package.mjs <package name> <node_modules dir of the bundle>
//   node scripts/platform-package.mjs <package name>…      (only fetch into the cache: CI, before the tests synth)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function lockedPackage(name) {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const entry = lock.packages[`node_modules/${name}`];
  if (!entry?.version || !entry.integrity) throw new Error(`${name} is not in package-lock.json (npm install it as an optional dependency)`);
  return { version: entry.version, integrity: entry.integrity };
}

function checkIntegrity(bytes, integrity, what) {
  const [algo, expected] = integrity.split('-', 2);
  const actual = createHash(algo).update(bytes).digest('base64');
  if (actual !== expected) throw new Error(`${what}: ${algo} ${actual} does not match the lockfile's ${expected}`);
}

export async function tarballOf(name) {
  const { version, integrity } = lockedPackage(name);
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kafka-s3', 'npm');
  const file = join(cache, `${name.replace('/', '+')}-${version}.tgz`);
  if (existsSync(file)) {
    checkIntegrity(readFileSync(file), integrity, file);
    return file;
  }
  const registry = (process.env.npm_config_registry ?? 'https://registry.npmjs.org/').replace(/\/?$/, '/');
  const url = `${registry}${name}/-/${name.split('/').pop()}-${version}.tgz`;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  checkIntegrity(bytes, integrity, url);
  mkdirSync(cache, { recursive: true });
  writeFileSync(`${file}.part`, bytes);
  renameSync(`${file}.part`, file);
  return file;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    console.error('usage: node scripts/platform-package.mjs <package name> [<node_modules dir>] | <package name>…');
    process.exit(2);
  }
  if (args.length === 1 || args.every((a) => a.startsWith('@'))) {
    for (const name of args) console.log(`${name}@${lockedPackage(name).version}: cached at ${await tarballOf(name)}`);
    process.exit(0);
  }
  const [name, modules] = args;
  const file = await tarballOf(name);
  const dir = join(modules, name);
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', file, '--strip-components=1', '-C', dir]);
  console.log(`${name}@${lockedPackage(name).version} → ${dir}`);
}
