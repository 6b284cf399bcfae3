// Writing a whole folder so that readers see the previous folder or the complete new one, never a mix:
// the new folder is assembled beside the target and swapped in with two renames.
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { toFileSystemError, withFileSystemErrors } from './errno.js';
import { FileSystemError, OutputExistsError } from './errors.js';
import { ownedEntryName } from './owned-names.js';
import { removeStaleWrites } from './stale-writes.js';

export interface WriteFolderOptions {
  /**
   * Which entries of an existing folder at the target may be discarded with it: `false` (the default)
   * replaces only an empty folder, `true` any folder, a function decides per entry name. A folder holding
   * an entry that may not be discarded is refused with `OutputExistsError` before anything is written.
   */
  readonly replace?: boolean | ((entry: string) => boolean);
  /** The end of the `OutputExistsError` message: what the user can do instead. */
  readonly refusalAdvice?: string;
}

/**
 * Writes the folder `target` atomically. `fill(stagingDir)` writes the complete new contents into a fresh
 * staging folder beside the target (`.<name>.peft-staging-<pid>-...`, same parent, so same file system).
 * When it succeeds, an existing target is renamed aside, the staging folder is renamed to the target and
 * the old folder is removed; when it fails, the staging folder is removed and the target is untouched.
 *
 * - A symlink at `target` is followed: the folder it points to is replaced, the link stays.
 * - The parent folder is created if missing. Leftovers of killed writers for this target are cleaned
 *   up first (`removeStaleWrites`), including putting back a previous folder whose swap was interrupted.
 * - An existing folder keeps its permission bits. A file at `target` is refused (`FileSystemError`, EEXIST).
 * - Between the two renames the target is briefly absent (POSIX has no atomic folder exchange); a run
 *   killed exactly there leaves the previous folder aside, and the next write puts it back.
 *
 * File-system failures are thrown as `FileSystemError`. Returns what `fill` returned.
 */
export async function writeFolderAtomically<T>(
  target: string,
  fill: (stagingDir: string) => Promise<T>,
  options: WriteFolderOptions = {},
): Promise<T> {
  const place = await resolveTarget(target);
  const parent = dirname(place);
  const name = basename(place);
  await withFileSystemErrors(() => mkdir(parent, { recursive: true }));
  await removeStaleWrites(parent, { target: name });

  const existing = await lstatOrUndefined(place);
  if (existing && !existing.isDirectory()) {
    throw new FileSystemError(
      'EEXIST',
      target,
      `cannot write the folder ${target}: a file is in the way (EEXIST); remove it or use another path.`,
    );
  }
  if (existing) await assertReplaceable(target, place, options);

  const staging = join(parent, ownedEntryName(name, 'staging'));
  await withFileSystemErrors(() => mkdir(staging));
  try {
    const result = await fill(staging);
    if (existing) await chmod(staging, existing.mode & 0o7777);
    await syncFolder(staging);
    if (existing) {
      const replaced = join(parent, ownedEntryName(name, 'replaced'));
      await rename(place, replaced);
      try {
        await rename(staging, place);
      } catch (error) {
        await rename(replaced, place).catch(() => undefined);
        throw error;
      }
      await syncFolder(parent);
      // The new folder is in place; an old one we fail to remove is cleaned up by the next write.
      await rm(replaced, { recursive: true, force: true }).catch(() => undefined);
    } else {
      await rename(staging, place);
      await syncFolder(parent);
    }
    return result;
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw toFileSystemError(error) ?? error;
  }
}

/** The folder to replace: `target` itself, or where a symlink at `target` points. */
async function resolveTarget(target: string): Promise<string> {
  const stats = await lstatOrUndefined(target);
  if (!stats?.isSymbolicLink()) return resolve(target);
  return withFileSystemErrors(() => realpath(target), { path: target, verb: 'resolve' });
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') return undefined;
    throw toFileSystemError(error, { path }) ?? error;
  }
}

async function assertReplaceable(target: string, place: string, options: WriteFolderOptions): Promise<void> {
  const replace = options.replace ?? false;
  if (replace === true) return;
  const entries = await withFileSystemErrors(() => readdir(place), { path: target, verb: 'list' });
  const blocking = entries.filter((entry) => replace === false || !replace(entry)).sort();
  if (blocking.length > 0) {
    throw new OutputExistsError(
      target,
      blocking,
      options.refusalAdvice ?? 'write to a new or empty folder instead',
    );
  }
}

/** Flushes a folder's entries to disk where the file system supports it (a crash keeps the renames). */
async function syncFolder(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not every file system lets a folder be synced; the data files themselves were synced already.
  }
}
