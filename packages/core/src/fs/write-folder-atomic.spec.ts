import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deadPid, snapshot, tempRoot } from '../test-support/fs.js';
import { FileSystemError, OutputExistsError } from './errors.js';
import { ownedEntryName } from './owned-names.js';
import { writeFolderAtomically } from './write-folder-atomic.js';

let root: Awaited<ReturnType<typeof tempRoot>>;
beforeEach(async () => {
  root = await tempRoot('peft-folder-');
});
afterEach(async () => {
  await root.cleanup();
});

async function oldModel(): Promise<string> {
  const target = join(root.dir, 'model');
  await mkdir(target);
  await writeFile(join(target, 'config.json'), 'old config');
  await writeFile(join(target, 'model.safetensors'), 'old weights');
  return target;
}

const writeNew = async (staging: string) => {
  await writeFile(join(staging, 'config.json'), 'new config');
  await writeFile(join(staging, 'model-00001-of-00001.safetensors'), 'new weights');
  return 'done';
};

describe('writeFolderAtomically', () => {
  it('creates a new folder (and missing parents) holding exactly what fill wrote', async () => {
    const target = join(root.dir, 'a', 'b', 'model');
    expect(await writeFolderAtomically(target, writeNew)).toBe('done');
    expect(await snapshot(target)).toEqual({
      'config.json': 'new config',
      'model-00001-of-00001.safetensors': 'new weights',
    });
    expect(await readdir(join(root.dir, 'a', 'b'))).toEqual(['model']);
  });

  it('replaces an existing folder whole: no file of the old one is left beside the new ones', async () => {
    const target = await oldModel();
    await chmod(target, 0o750);
    await writeFolderAtomically(target, writeNew, { replace: true });
    expect(await snapshot(target)).toEqual({
      'config.json': 'new config',
      'model-00001-of-00001.safetensors': 'new weights',
    });
    expect((await stat(target)).mode & 0o777).toBe(0o750);
    expect(await readdir(root.dir)).toEqual(['model']);
  });

  it('readers see the old folder while the new one is written, and after a failure', async () => {
    const target = await oldModel();
    const before = await snapshot(target);
    let seenMidway: Record<string, string> | undefined;
    const failing = writeFolderAtomically(
      target,
      async (staging) => {
        await writeFile(join(staging, 'config.json'), 'new config');
        seenMidway = await snapshot(target);
        throw new Error('disk went away');
      },
      { replace: true },
    );
    await expect(failing).rejects.toThrow('disk went away');
    expect(seenMidway).toEqual(before);
    expect(await snapshot(target)).toEqual(before);
    expect(await readdir(root.dir)).toEqual(['model']);
  });

  it('cleans up the staging folder of a killed writer before writing', async () => {
    const target = await oldModel();
    const leftover = join(
      root.dir,
      ownedEntryName('model', 'staging').replace(`-${process.pid}-`, `-${deadPid()}-`),
    );
    await mkdir(leftover);
    await writeFile(join(leftover, 'config.json'), 'half-written run');
    await writeFolderAtomically(target, writeNew, { replace: true });
    expect(await readdir(root.dir)).toEqual(['model']);
  });

  it('refuses an existing folder holding entries it may not discard, before writing anything', async () => {
    const target = await oldModel();
    await writeFile(join(target, 'notes.txt'), 'mine');
    const before = await snapshot(target);
    let called = false;
    const refusal = await writeFolderAtomically(
      target,
      async () => {
        called = true;
      },
      {
        replace: (entry) => entry.endsWith('.safetensors') || entry === 'config.json',
        refusalAdvice: 'pass --overwrite',
      },
    ).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(OutputExistsError);
    expect(refusal).toMatchObject({ code: 'OUTPUT_EXISTS', path: target, entries: ['notes.txt'] });
    expect((refusal as Error).message).toBe(
      `output folder ${target} already holds notes.txt; pass --overwrite`,
    );
    expect(called).toBe(false);
    expect(await snapshot(target)).toEqual(before);
    // The default replaces only an empty folder.
    await expect(writeFolderAtomically(target, writeNew)).rejects.toBeInstanceOf(OutputExistsError);
    const empty = join(root.dir, 'empty');
    await mkdir(empty);
    await writeFolderAtomically(empty, writeNew);
    expect(Object.keys(await snapshot(empty))).toHaveLength(2);
  });

  it('refuses a file in the way with a FileSystemError (EEXIST)', async () => {
    const file = join(root.dir, 'file');
    await writeFile(file, 'x');
    const error = await writeFolderAtomically(file, writeNew).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileSystemError);
    expect(error).toMatchObject({ systemCode: 'EEXIST', path: file });
    expect(await readFile(file, 'utf8')).toBe('x');
    expect(await readdir(root.dir)).toEqual(['file']);
  });

  it('follows a symlink at the target: the folder it points to is replaced and the link stays', async () => {
    const target = await oldModel();
    const link = join(root.dir, 'link');
    await symlink(target, link);
    await writeFolderAtomically(link, writeNew, { replace: true });
    expect((await snapshot(target))['config.json']).toBe('new config');
    expect((await readdir(root.dir)).sort()).toEqual(['link', 'model']);
    expect(await readFile(join(link, 'config.json'), 'utf8')).toBe('new config');
  });
});
