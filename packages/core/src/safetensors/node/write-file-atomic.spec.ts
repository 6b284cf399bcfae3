import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../errors.js';
import { FileSystemError } from '../../fs/errors.js';
import { ownedEntryName } from '../../fs/owned-names.js';
import { fromFloat32 } from '../../host-tensor.js';
import { deadPid } from '../../test-support/fs.js';
import { writeSafetensorsFile } from './write-file.js';
import { writeFileAtomic } from './write-file-atomic.js';

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'peft-atomic-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh folder with `target` already holding "old contents". */
async function folderWithOldFile(): Promise<{ dir: string; target: string }> {
  const dir = join(root, `case-${counter++}`);
  await mkdir(dir);
  const target = join(dir, 'target.json');
  await writeFile(target, 'old contents');
  return { dir, target };
}

describe('writeFileAtomic', () => {
  it('writes strings as UTF-8, bytes, and chunk sequences (sync and async) in order', async () => {
    const { dir, target } = await folderWithOldFile();
    await writeFileAtomic(target, '{"é":1}');
    expect(await readFile(target, 'utf8')).toBe('{"é":1}');
    await writeFileAtomic(target, Uint8Array.from([1, 2, 3]));
    expect([...(await readFile(target))]).toEqual([1, 2, 3]);
    await writeFileAtomic(target, [Uint8Array.from([1]), new Uint8Array(0), Uint8Array.from([2, 3])]);
    expect([...(await readFile(target))]).toEqual([1, 2, 3]);
    async function* chunks() {
      yield Uint8Array.from([9]);
      yield Uint8Array.from([8, 7]);
    }
    await writeFileAtomic(target, chunks());
    expect([...(await readFile(target))]).toEqual([9, 8, 7]);
    await writeFileAtomic(join(dir, 'new.bin'), 'fresh');
    expect(await readFile(join(dir, 'new.bin'), 'utf8')).toBe('fresh');
    expect((await readdir(dir)).sort()).toEqual(['new.bin', 'target.json']);
  });

  it('writes many small chunks around large ones in order (small ones are gathered)', async () => {
    const { target } = await folderWithOldFile();
    const chunks: Uint8Array[] = [];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    for (let i = 0; i < 3000; i++) {
      // Mostly tiny, some just under and over the gathering size.
      const size = i % 1000 === 500 ? (1 << 20) + 3 : i % 700 === 1 ? (1 << 20) - 1 : next() % 600;
      chunks.push(Uint8Array.from({ length: size }, () => next() & 255));
    }
    await writeFileAtomic(target, chunks);
    const expected = Buffer.concat(chunks);
    const got = await readFile(target);
    expect(got.byteLength).toBe(expected.byteLength);
    expect(got.equals(expected)).toBe(true);
  });

  it('leaves the old file intact and removes the temp file when the data source fails midway', async () => {
    const { dir, target } = await folderWithOldFile();
    async function* failing() {
      yield new Uint8Array(1 << 16);
      throw new Error('producer failed');
    }
    await expect(writeFileAtomic(target, failing())).rejects.toThrow('producer failed');
    expect(await readFile(target, 'utf8')).toBe('old contents');
    expect(await readdir(dir)).toEqual(['target.json']);
  });

  it('removes the temp file when the final rename fails', async () => {
    const { dir } = await folderWithOldFile();
    const occupied = join(dir, 'occupied');
    await mkdir(occupied);
    await writeFile(join(occupied, 'keep'), 'x');
    await expect(writeFileAtomic(occupied, 'data')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['occupied', 'target.json']);
    expect(await readFile(join(occupied, 'keep'), 'utf8')).toBe('x');
  });

  it('fails with a FileSystemError naming the target when the folder does not exist', async () => {
    const target = join(root, 'missing-dir', 'f.json');
    const error = await writeFileAtomic(target, '{}').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileSystemError);
    expect(error).toMatchObject({ systemCode: 'ENOENT', path: target });
    expect((error as Error).message).toMatch(/ENOENT/);
  });

  it("names its temp file after the target and this process, and removes a killed run's temp file", async () => {
    const { dir, target } = await folderWithOldFile();
    const leftover = ownedEntryName('target.json', 'tmp').replace(`-${process.pid}-`, `-${deadPid()}-`);
    const otherTarget = ownedEntryName('other.json', 'tmp').replace(`-${process.pid}-`, `-${deadPid()}-`);
    const notOurs = '.target.json.0a1b2c3d4e5f.tmp';
    for (const name of [leftover, otherTarget, notOurs])
      await writeFile(join(dir, name), new Uint8Array(4096));
    let seen: string[] = [];
    async function* observe() {
      seen = await readdir(dir);
      yield Uint8Array.from([1]);
    }
    await writeFileAtomic(target, observe());
    const temp = seen.filter((n) => n.startsWith('.target.json.peft-tmp-'));
    expect(temp).toHaveLength(1);
    expect(temp[0]).toMatch(
      new RegExp(`^\\.target\\.json\\.peft-tmp-${process.pid}-[0-9a-f]{8}-[0-9a-f]{12}\\.tmp$`),
    );
    expect((await readdir(dir)).sort()).toEqual([notOurs, otherTarget, 'target.json'].sort());
  });

  it('keeps the permission bits of the file it replaces', async () => {
    const { target } = await folderWithOldFile();
    await chmod(target, 0o640);
    const before = (await stat(target)).mode;
    await writeFileAtomic(target, 'new');
    expect((await stat(target)).mode).toBe(before);
  });
});

describe('writeSafetensorsFile', () => {
  it('rejects an invalid state dict before touching the disk', async () => {
    const { dir, target } = await folderWithOldFile();
    const bad = new Map([
      ['ok', fromFloat32([1], [1])],
      ['bad', { dtype: 'F32' as const, shape: [4], data: new Uint8Array(3) }],
    ]);
    const error = await writeSafetensorsFile(target, bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).file).toBe(target);
    expect((error as SafetensorsError).tensor).toBe('bad');
    expect(await readFile(target, 'utf8')).toBe('old contents');
    expect(await readdir(dir)).toEqual(['target.json']);
  });
});
