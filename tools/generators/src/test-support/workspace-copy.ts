import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export interface Run {
  code: number | null;
  /** stdout and stderr interleaved. */
  output: string;
  stdout: string;
}

/** Runs a command without a shell. */
export function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    let output = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, output, stdout }));
  });
}

export async function mustRun(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, cwd);
  if (result.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n${result.output.slice(-8000)}`);
  return result.output;
}

/**
 * Copies the working tree as git sees it (tracked and untracked-but-not-ignored files) plus the given
 * build folders, without node_modules: a workspace a newcomer would have after cloning and building.
 */
export async function copyWorkingTree(destination: string, buildFolders: readonly string[]): Promise<void> {
  const listing = await mustRun(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    REPO_ROOT,
  );
  for (const file of listing.split('\0').filter((f) => f !== '' && existsSync(join(REPO_ROOT, f)))) {
    await mkdir(dirname(join(destination, file)), { recursive: true });
    await cp(join(REPO_ROOT, file), join(destination, file));
  }
  for (const folder of buildFolders) {
    await cp(join(REPO_ROOT, folder), join(destination, folder), { recursive: true });
  }
}

const GIT_IDENTITY = ['-c', 'user.name=workspace copy', '-c', 'user.email=copy@localhost'];

/**
 * Makes the copy a git repository whose one commit is the copied tree, so `changedFiles` can later list
 * what the steps in between changed (the copy's .gitignore keeps build output and node_modules out).
 */
export async function commitBaseline(copy: string): Promise<void> {
  await mustRun('git', ['init', '--quiet'], copy);
  await mustRun('git', ['add', '--all'], copy);
  await mustRun('git', [...GIT_IDENTITY, 'commit', '--quiet', '--no-verify', '-m', 'copy'], copy);
}

/** `git status --porcelain` lines under `paths` since `commitBaseline`: changed, added or removed files. */
export async function changedFiles(copy: string, paths: readonly string[]): Promise<string[]> {
  const status = await mustRun(
    'git',
    ['status', '--porcelain', '--untracked-files=all', '--', ...paths],
    copy,
  );
  return status.split('\n').filter((line) => line.trim() !== '');
}
