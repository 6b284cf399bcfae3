// Method and quantizer packages beyond the built-in ones: `--plugin <package or path>` (repeatable) or
// PEFT_PLUGINS (comma-separated). Importing a plug-in registers it; the flags and choices of every command
// come from the registries afterwards, so a new package needs no edit to this app.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@peft/core';

/** The plug-ins named on the command line (before the command runs) and in PEFT_PLUGINS. */
export function pluginsRequested(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const named: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--plugin' && argv[i + 1] !== undefined) named.push(argv[++i]!);
    else if (arg.startsWith('--plugin=')) named.push(arg.slice('--plugin='.length));
  }
  const fromEnv = (env['PEFT_PLUGINS'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return [...fromEnv, ...named];
}

/** The ESM entry a package.json declares: exports["."] (import or default), else module, else main. */
function packageEntry(manifest: Record<string, unknown>): string {
  const exportsField = manifest['exports'];
  let root: unknown = exportsField;
  if (root && typeof root === 'object' && !Array.isArray(root) && '.' in (root as object)) {
    root = (root as Record<string, unknown>)['.'];
  }
  if (typeof root === 'string') return root;
  if (root && typeof root === 'object') {
    const conditions = root as Record<string, unknown>;
    for (const key of ['import', 'default'])
      if (typeof conditions[key] === 'string') return conditions[key] as string;
  }
  for (const key of ['module', 'main']) if (typeof manifest[key] === 'string') return manifest[key] as string;
  return 'index.js';
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** A package folder's entry file, or the file itself. */
async function entryOf(path: string): Promise<string> {
  if (!(await isDirectory(path))) return path;
  const manifest = JSON.parse(await readFile(join(path, 'package.json'), 'utf8')) as Record<string, unknown>;
  return join(path, packageEntry(manifest));
}

/** Where `spec` (a path, or a package name found in node_modules from `cwd` upwards) is. */
async function locate(spec: string, cwd: string): Promise<string | null> {
  if (spec.startsWith('.') || isAbsolute(spec)) {
    const path = resolve(cwd, spec);
    return (await stat(path).catch(() => null)) ? path : null;
  }
  for (let dir = cwd; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', spec);
    if (await isDirectory(candidate)) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

/** Imports each plug-in (resolved from `cwd`), so it registers its methods or quantizers. */
export async function loadPlugins(specs: readonly string[], cwd = process.cwd()): Promise<void> {
  for (const spec of specs) {
    const path = await locate(spec, cwd);
    if (!path) {
      throw new ConfigError(
        `plug-in ${spec} was not found from ${cwd}; install the package (npm install ${spec}) or give a path to it`,
      );
    }
    await import(pathToFileURL(await entryOf(path)).href);
  }
}
