/**
 * `npm run build:client`: bundles bulwark-client with esbuild (tsx's own
 * dependency) into dist/bulwark-client.mjs, so the CLI starts as plain
 * JavaScript instead of paying tsx's start-up (loader thread, per-file
 * transforms) on every run: `node dist/bulwark-client.mjs …`.
 *
 * Pure JavaScript packages (ws, msgpackr, …) are bundled too: resolving
 * and lexing them as CommonJS at every start cost a third of the start-up
 * time. Packages with native parts (EXTERNAL) load from node_modules as
 * usual. Worker bodies that the client starts with
 * `new URL('./x.ts', import.meta.url)` become entry points of their own,
 * dist/x.mjs, and those URLs are rewritten to them; every other
 * `import.meta.url` is replaced by the URL of the source file it is in, so
 * `createRequire(import.meta.url)('./binding.cjs')` and the like resolve
 * exactly as they do unbundled. The bundle therefore runs from this
 * checkout (it is a build artefact, not a relocatable package). No name
 * keeping: tsx's `__name` wrapper on every function costs the restore loop
 * measurable time.
 *
 * The test suite never uses the bundle; the benches that time the CLI
 * (backup-compare, restore-read) build it and run it with runBuiltClient.
 */
import { spawn } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { CLI_NODE_FLAGS } from '../bin/cli-node-flags.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = path.join(ROOT, 'dist');
export const CLIENT_BUNDLE = path.join(DIST, 'bulwark-client.mjs');

/** Output name → source. Workers are named after their source file, which is what their URLs point at. */
const ENTRIES: Record<string, string> = {
  'bulwark-client': 'bin/bulwark-client.ts',
  'write-worker': 'client/archive/write-worker.ts',
  'encode-worker': 'client/encode-worker.ts',
  'decode-worker': 'client/decode-worker.ts',
};
/** Packages with native parts (or optional native helpers) that load from node_modules at run time. */
const EXTERNAL = ['lz4', '@node-rs/crc32', 'fs-native-extensions', 'node-gyp-build', 'msgpackr-extract', 'bufferutil', 'utf-8-validate'];
const WORKERS = new Set(Object.keys(ENTRIES).filter((k) => k !== 'bulwark-client'));

const WORKER_URL = /new URL\((['"])\.\/([\w-]+)\.ts\1, import\.meta\.url\)/g;
const BUNDLE_URL = '__BULWARK_BUNDLE_URL__';

/** Rewrites import.meta.url in our own sources (see the header). */
const sourceUrls: Plugin = {
  name: 'bulwark-source-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      let text = await readFile(args.path, 'utf8');
      if (text.startsWith('#!')) text = text.slice(text.indexOf('\n') + 1);
      text = text
        .replace(WORKER_URL, (all, _q: string, name: string) => (WORKERS.has(name) ? `new URL('./${name}.mjs', ${BUNDLE_URL})` : all))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll(BUNDLE_URL, 'import.meta.url');
      return { contents: text, loader: 'ts' };
    });
  },
};

/** Builds dist/; returns the path of the CLI bundle. */
export async function buildClient(opts: { quiet?: boolean } = {}): Promise<string> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([out, src]) => [out, path.join(ROOT, src)])),
    outdir: DIST,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Pure JavaScript packages are bundled (no module resolution or CommonJS lexing at start-up); addons stay external.
    external: EXTERNAL,
    // Bundled CommonJS packages require Node's built-ins: give the ES module a require.
    banner: { js: "import { createRequire as __bulwarkRequire } from 'node:module'; const require = __bulwarkRequire(import.meta.url);" },
    plugins: [sourceUrls],
    logLevel: opts.quiet ? 'error' : 'warning',
  });
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.length} errors`);
  const cli = await readFile(CLIENT_BUNDLE, 'utf8');
  await writeFile(CLIENT_BUNDLE, `#!/usr/bin/env -S node ${CLI_NODE_FLAGS.join(' ')}\n${cli}`);
  await chmod(CLIENT_BUNDLE, 0o755);
  return CLIENT_BUNDLE;
}

/**
 * Runs the bundled CLI (benches): resolves with its stdout, rejects with
 * its stderr unless it exits 0.
 */
export function runBuiltClient(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI_NODE_FLAGS, CLIENT_BUNDLE, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`bulwark-client ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildClient();
  process.stdout.write(`built ${path.relative(process.cwd(), out)}\n`);
}
