import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeftError } from '../errors.js';
import { writeFileAtomic } from '../safetensors/node/write-file-atomic.js';
import { tempRoot } from '../test-support/fs.js';
import { toFileSystemError, withFileSystemErrors } from './errno.js';
import { FileSystemError } from './errors.js';

/** An error shaped as Node's fs functions throw them. */
function errnoError(code: string, syscall: string, path?: string, dest?: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), {
    code,
    errno: -1,
    syscall,
    ...(path === undefined ? {} : { path }),
    ...(dest === undefined ? {} : { dest }),
  });
}

let root: Awaited<ReturnType<typeof tempRoot>>;
beforeAll(async () => {
  root = await tempRoot('peft-errno-');
});
afterAll(async () => {
  await root.cleanup();
});

describe('toFileSystemError', () => {
  it.each([
    ['EROFS', 'open', 'cannot open /ro/out.safetensors: the file system is read-only (EROFS)'],
    ['EACCES', 'mkdir', 'cannot create the folder /ro/out.safetensors: permission denied (EACCES)'],
    ['ENOSPC', 'write', 'cannot write /ro/out.safetensors: no space left on the device (ENOSPC)'],
    [
      'EEXIST',
      'mkdir',
      'cannot create the folder /ro/out.safetensors: something already exists there (EEXIST)',
    ],
    [
      'ENOTDIR',
      'open',
      'cannot open /ro/out.safetensors: a part of the path is a file, not a folder (ENOTDIR)',
    ],
  ])('%s from %s is one sentence naming the path', (code, syscall, start) => {
    const cause = errnoError(code, syscall, '/ro/out.safetensors');
    const error = toFileSystemError(cause)!;
    expect(error).toBeInstanceOf(FileSystemError);
    expect(error).toBeInstanceOf(PeftError);
    expect(error).toMatchObject({
      code: 'FILE_SYSTEM',
      systemCode: code,
      path: '/ro/out.safetensors',
      cause,
    });
    expect(error.message.startsWith(`${start}; `)).toBe(true);
    expect(error.message.endsWith('.')).toBe(true);
    expect(error.message.split('\n')).toHaveLength(1);
  });

  it('names both paths of a failed rename, and an override path instead of the temp name', () => {
    expect(toFileSystemError(errnoError('EXDEV', 'rename', '/a/x', '/b/x'))!.message).toMatch(
      /^cannot move \/a\/x to \/b\/x: /,
    );
    const viaTemp = toFileSystemError(errnoError('ENOSPC', 'write', '/a/.x.peft-tmp-1.tmp'), {
      path: '/a/x',
      verb: 'write',
    })!;
    expect(viaTemp.path).toBe('/a/x');
    expect(viaTemp.message).toMatch(/^cannot write \/a\/x: no space left/);
  });

  it('finds an errno error in the cause chain, and leaves other errors alone', () => {
    const wrapped = new Error('outer', { cause: errnoError('EACCES', 'open', '/p') });
    expect(toFileSystemError(wrapped)?.systemCode).toBe('EACCES');
    expect(toFileSystemError(new Error('plain'))).toBeUndefined();
    expect(toFileSystemError(errnoError('ERR_SOMETHING_ELSE', 'open', '/p'))).toBeUndefined();
    expect(toFileSystemError('a string')).toBeUndefined();
    const already = new FileSystemError('EIO', '/p', 'x');
    expect(toFileSystemError(already)).toBe(already);
  });

  it('maps real ENOTDIR and EEXIST errors from the file system', async () => {
    const file = join(root.dir, 'a-file');
    await writeFile(file, 'x');
    const notDir = await writeFileAtomic(join(file, 'out.json'), '{}').catch((e: unknown) => e);
    expect(notDir).toBeInstanceOf(FileSystemError);
    expect(notDir).toMatchObject({ systemCode: 'ENOTDIR', path: join(file, 'out.json') });
    expect((notDir as Error).message).toContain(join(file, 'out.json'));

    const exists = await withFileSystemErrors(() => mkdir(file, { recursive: true })).catch(
      (e: unknown) => e,
    );
    expect(exists).toMatchObject({ code: 'FILE_SYSTEM', systemCode: 'EEXIST', path: file });
  });
});
