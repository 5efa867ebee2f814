import { defineConfig, type Options } from 'tsup';

// One source tree, two builds: ES modules in dist/esm, CommonJS in dist/cjs, each with its own declarations.
const shared = {
  entry: {
    index: 'src/index.ts',
    'emulator/index': 'src/emulator/index.ts',
    'emulator/cli': 'src/emulator/cli.ts',
    'doctor/index': 'src/doctor/index.ts',
  },
  tsconfig: 'tsconfig.build.json',
  target: 'node20',
  platform: 'node',
  removeNodeProtocol: false,
  dts: true,
  sourcemap: false,
  clean: true,
} satisfies Options;

/**
 * The client that signed-in pages load (src/client/), for browsers: one minified classic script, which the
 * middleware reads from dist/client/reteno-inbox.js and serves under a version taken from its content.
 */
const client = {
  entry: { 'reteno-inbox': 'src/client/index.ts' },
  tsconfig: 'src/client/tsconfig.json',
  format: 'iife',
  platform: 'browser',
  target: 'es2018',
  minify: true,
  outDir: 'dist/client',
  outExtension: () => ({ js: '.js' }),
  dts: false,
  sourcemap: false,
  clean: true,
} satisfies Options;

export default defineConfig([
  client,
  { ...shared, format: 'esm', outDir: 'dist/esm' },
  {
    ...shared,
    format: 'cjs',
    outDir: 'dist/cjs',
    // got and its dependencies are ES modules only, which Jest's CommonJS runtime cannot require(): the CommonJS
    // build carries its own copy (the ES module build imports the installed got).
    noExternal: ['got'],
    // import.meta.url (package-files.ts) from __filename.
    shims: true,
  },
]);
