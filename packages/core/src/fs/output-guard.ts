// Refusing outputs that would overwrite what is being read: the same file or folder under another
// name (a symlink, a hard link, a bind mount), a folder inside an input, or a folder around one.
import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { OutputOverlapsInputError } from './errors.js';

/** The real path `path` has, or will have once created: the nearest existing ancestor is resolved. */
export async function resolveFuturePath(path: string): Promise<string> {
  const rest: string[] = [];
  let current = resolve(path);
  for (;;) {
    try {
      return join(await realpath(current), ...rest.reverse());
    } catch {
      const up = dirname(current);
      if (up === current) return resolve(path);
      rest.push(basename(current));
      current = up;
    }
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

const sameFile = (a: Stats | undefined, b: Stats | undefined): boolean =>
  a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

const isInside = (path: string, dir: string): boolean =>
  path.startsWith(dir.endsWith(sep) ? dir : dir + sep) && path !== dir;

/** The existing folders above `path` (not `path` itself), nearest first. */
async function ancestorsOf(path: string): Promise<Stats[]> {
  const found: Stats[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const stats = await statOrUndefined(dir);
    if (stats) found.push(stats);
    if (dirname(dir) === dir) return found;
  }
}

/**
 * Throws `OutputOverlapsInputError` (naming both paths) when writing `output` could damage one of
 * `inputs`: when it is an input under any name (same real path, or same device and inode: symlinks,
 * hard links, bind mounts), lies inside an input folder, or is a folder holding an input. A missing
 * output is judged by where it would be created; a missing input cannot be damaged and is skipped.
 * List every file a command reads (e.g. a model folder and each file in it: shards may be links into
 * another folder), not only the argument the user gave.
 */
export async function assertOutputOutsideInputs(output: string, inputs: readonly string[]): Promise<void> {
  const outReal = await resolveFuturePath(output);
  const outStats = await statOrUndefined(outReal);
  const outAncestors = await ancestorsOf(outReal);
  for (const input of inputs) {
    const inStats = await statOrUndefined(input);
    if (!inStats) continue;
    const inReal = await realpath(input);
    const via = (path: string, real: string) =>
      resolve(path) === real ? '' : ` (${path} resolves to ${real})`;
    if (inReal === outReal || sameFile(inStats, outStats)) {
      const how =
        resolve(output) === resolve(input)
          ? ''
          : inReal === outReal
            ? ` (both resolve to ${outReal}: the input ${input})`
            : ` (the same file as the input ${input}, through a hard link or mount)`;
      throw new OutputOverlapsInputError(
        output,
        input,
        `output ${output} is the input; write to another path${how}.`,
      );
    }
    if (isInside(outReal, inReal) || outAncestors.some((a) => sameFile(a, inStats))) {
      throw new OutputOverlapsInputError(
        output,
        input,
        `output ${output} lies inside the input ${input}${via(output, outReal)}; write outside it.`,
      );
    }
    if (
      outStats &&
      (isInside(inReal, outReal) || (await ancestorsOf(inReal)).some((a) => sameFile(a, outStats)))
    ) {
      throw new OutputOverlapsInputError(
        output,
        input,
        `output ${output} contains the input ${input}${via(output, outReal)}, which replacing it would delete; write elsewhere.`,
      );
    }
  }
}
