// Bundles each Lambda entry point with esbuild, as the CDK app does (NodejsFunction), for inspection and the bench.
import { build } from 'esbuild';

export const lambdaBuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: false,
  minify: false,
  // ESM bundles need require() for the CommonJS dependencies they include.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
  // TRANSFORM_SQL's engine: a native package, loaded at run time from node_modules next to the bundle (CDK copies it
  // there for the function's architecture when TRANSFORM_SQL is set).
  external: ['@duckdb/node-api'],
  // @platformatic/kafka's WebAssembly helpers read native.wasm next to their own file, which a bundle does not have:
  // their bundled build carries the WebAssembly inline (the replay function).
  alias: { '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
};

export async function bundle(entry, outfile) {
  await build({ ...lambdaBuildOptions, entryPoints: [entry], outfile });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundle('lambdas/sink/handler.ts', 'dist/sink/index.mjs');
  console.log(`bundled ${out}`);
}
