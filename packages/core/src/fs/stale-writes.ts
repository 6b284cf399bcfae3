// Removing what killed runs left behind: temp files and staging folders whose owning process is gone.
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { currentHostTag, type OwnedEntry, parseOwnedEntryName } from './owned-names.js';

export interface StaleWriteOptions {
  /** Only entries made for this file or folder name (default: entries for any target in `dir`). */
  readonly target?: string;
}

export interface StaleWriteReport {
  /** Entries removed (full paths). */
  readonly removed: string[];
  /** Previous folders put back under their own name: a swap was interrupted after moving them aside. */
  readonly restored: string[];
}

/** Whether process `pid` on this host still runs (a process we may not signal still runs). */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

function isStale(entry: OwnedEntry): boolean {
  // Another host's pids say nothing here (a shared network folder): leave its entries alone.
  return entry.host === currentHostTag() && !isAlive(entry.pid);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Cleans up after killed writers in `dir`: removes temp files (`*.peft-tmp-*.tmp`) and staging folders
 * (`*.peft-staging-*`) made by peft.js whose owner process is no longer alive on this host. A folder moved
 * aside by an interrupted swap (`*.peft-replaced-*`) is put back when its target is missing (the swap
 * stopped before the new folder went in), else removed. Names that are not exactly ours, and entries of
 * live processes or other hosts, are never touched. A missing `dir` is nothing to clean.
 */
export async function removeStaleWrites(
  dir: string,
  options: StaleWriteOptions = {},
): Promise<StaleWriteReport> {
  const report: StaleWriteReport = { removed: [], restored: [] };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return report;
  }
  for (const name of names) {
    const entry = parseOwnedEntryName(name);
    if (!entry || !isStale(entry)) continue;
    if (options.target !== undefined && !matchesTarget(entry, options.target)) continue;
    const path = join(dir, name);
    try {
      if (entry.kind === 'replaced') {
        const target = join(dir, entry.target);
        if (!(await exists(target))) {
          // Never delete the only copy of the user's previous folder: put it back, or leave it.
          if (!entry.targetCut) {
            await rename(path, target);
            report.restored.push(target);
          }
          continue;
        }
      }
      await rm(path, { recursive: true, force: true });
      report.removed.push(path);
    } catch {
      // Best effort: a leftover we cannot remove (or another cleaner got first) must not stop the write.
    }
  }
  return report;
}

function matchesTarget(entry: OwnedEntry, target: string): boolean {
  return entry.targetCut ? target.startsWith(entry.target) : entry.target === target;
}
