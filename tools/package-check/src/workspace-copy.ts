import { existsSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mustRun } from './run.js';
import { REPO_ROOT } from './workspace.js';

/**
 * Copies the working tree as git sees it (tracked and untracked-but-not-ignored files, so pending
 * changesets and uncommitted work are included) into `destination`, plus the listed build folders
 * (ignored by git, e.g. "packages/core/dist"). No node_modules: the copy installs its own.
 */
export async function copyWorkingTree(
  destination: string,
  buildFolders: readonly string[] = [],
): Promise<void> {
  const { stdout } = await mustRun('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
  });
  const files = stdout.split('\0').filter((file) => file !== '' && existsSync(join(REPO_ROOT, file)));
  for (const file of files) {
    await mkdir(dirname(join(destination, file)), { recursive: true });
    await cp(join(REPO_ROOT, file), join(destination, file));
  }
  for (const folder of buildFolders) {
    await cp(join(REPO_ROOT, folder), join(destination, folder), { recursive: true });
  }
}

/**
 * Installs the copy's dependencies for the selected workspace projects from pnpm's store (the
 * registry only for what the store lacks), without running install scripts.
 */
export async function installCopy(root: string, filters: readonly string[]): Promise<void> {
  await mustRun(
    'pnpm',
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-frozen-lockfile',
      ...filters.flatMap((f) => ['--filter', f]),
    ],
    { cwd: root, timeoutMs: 300_000 },
  );
}
