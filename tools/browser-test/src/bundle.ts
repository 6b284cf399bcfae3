import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type InlineConfig, mergeConfig } from 'vite';

/**
 * Bundles `entry` (a module whose default export is an async function returning JSON-serialisable data) into a
 * page under `workDir/dist`. The page stores the promise of the entry's result on window.__browserTestResult.
 */
export async function bundleEntry(
  entry: string,
  workDir: string,
  extraConfig: InlineConfig = {},
): Promise<string> {
  const main = join(workDir, 'main.js');
  await writeFile(
    main,
    `import run from ${JSON.stringify(entry)};\n` +
      'window.__browserTestResult = Promise.resolve().then(() => run()).then(\n' +
      '  (value) => ({ ok: true, value }),\n' +
      '  (error) => ({ ok: false, error: String((error && error.stack) || error) }),\n' +
      ');\n',
  );
  await writeFile(
    join(workDir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>browser test</title><script type="module" src="./main.js"></script>\n',
  );
  const outDir = join(workDir, 'dist');
  const config: InlineConfig = {
    root: workDir,
    configFile: false,
    logLevel: 'warn',
    base: './',
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      target: 'es2022',
      reportCompressedSize: false,
      chunkSizeWarningLimit: 1e9,
    },
  };
  await build(mergeConfig(config, extraConfig));
  return outDir;
}
