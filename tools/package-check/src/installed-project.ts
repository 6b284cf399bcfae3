import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PackedPackage } from './pack.js';
import { mustRun } from './run.js';
import { unscoped } from './workspace.js';

/**
 * What an application installs next to peft.js: the TensorFlow.js core it owns (the peer), a backend, and
 * Node's types (a Node application that writes TypeScript has them; snippets that read files need them).
 */
export const APP_DEPENDENCIES: Readonly<Record<string, string>> = {
  '@tensorflow/tfjs-core': '4.22.0',
  '@tensorflow/tfjs-backend-cpu': '4.22.0',
  '@types/node': '^20.19.0',
};

/** Packages installed a second time under an npm alias ("<unscoped>-copy"), for the two-copies checks. */
export const SECOND_COPIES = ['@peft/core', '@peft/adapter-bridge', '@peft/vera', '@peft/quant-bnb4'];

export function copyAlias(name: string): string {
  return `${unscoped(name)}-copy`;
}

/**
 * Creates an application in `dir` (outside the workspace) that depends on every tarball with plain
 * npm: no workspace links, third-party packages from the registry. `overrides` pins every transitive
 * `@peft/*` dependency to the tarballs too, so nothing is ever looked up on the registry under that
 * scope. Returns the project's package.json as written.
 */
export async function installTarballs(
  dir: string,
  packed: ReadonlyMap<string, PackedPackage>,
): Promise<Record<string, unknown>> {
  await mkdir(dir, { recursive: true });
  const dependencies: Record<string, string> = { ...APP_DEPENDENCIES };
  const overrides: Record<string, string> = {};
  for (const { name, tarball } of packed.values()) {
    dependencies[name] = `file:${tarball}`;
    overrides[name] = `$${name}`;
  }
  for (const name of SECOND_COPIES) {
    const pkg = packed.get(name);
    if (!pkg) throw new Error(`${name} was not packed, so it cannot be installed twice`);
    dependencies[copyAlias(name)] = `file:${pkg.tarball}`;
  }
  const manifest = {
    name: 'peft-installed-check',
    private: true,
    type: 'module',
    dependencies,
    overrides,
  };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const env = { ...process.env };
  delete env['npm_config_user_agent'];
  await mustRun(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', '--no-package-lock'],
    { cwd: dir, env, timeoutMs: 300_000 },
  );
  return manifest;
}
