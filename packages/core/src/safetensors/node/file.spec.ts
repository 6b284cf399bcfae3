import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SafetensorsError } from '../../errors.js';
import { fromFloat32, fromIntegers, type StateDict } from '../../host-tensor.js';
import { serializeSafetensors } from '../serialize.js';
import { concat, u64le } from '../test-support/hand-built.js';
import { openSafetensorsFile } from './file.js';
import { writeSafetensorsFile } from './write-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peft-safetensors-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Spies on FileHandle#read (shared by every handle) and sums the bytes requested. */
async function spyOnReads(): Promise<() => number> {
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
  await probe.close();
  const spy = vi.spyOn(proto, 'read');
  return () => spy.mock.calls.reduce((n, args) => n + (args[2] as number), 0);
}

describe('openSafetensorsFile', () => {
  const dict: StateDict = new Map([
    ['embed', fromFloat32([0.25, -1, 3, 4, 5, 6], [2, 3], 'BF16')],
    ['ids', fromIntegers([1, -2, 3], [3], 'I64')],
  ]);

  it('reads back what writeSafetensorsFile wrote, and the bytes on disk are the in-memory serialization', async () => {
    const path = join(dir, 'round.safetensors');
    await writeSafetensorsFile(path, dict, { format: 'pt' });
    expect(new Uint8Array(await readFile(path))).toEqual(serializeSafetensors(dict, { format: 'pt' }));
    const source = await openSafetensorsFile(path);
    try {
      expect(source.name).toBe(path);
      expect(source.metadata?.get('format')).toBe('pt');
      expect(source.keys()).toEqual(['ids', 'embed']); // I64 before BF16, as Python lays them out
      expect(await source.readAll()).toEqual(dict);
    } finally {
      await source.close();
    }
  });

  it('lists a 6 GB file by reading only its header, and get reads only that tensor', async () => {
    const huge = 6_000_000_000;
    const json = `{"huge":{"dtype":"U8","shape":[${huge}],"data_offsets":[0,${huge}]},"tail":{"dtype":"F32","shape":[2],"data_offsets":[${huge},${huge + 8}]}}`;
    const header = new TextEncoder().encode(json);
    const path = join(dir, 'sparse.safetensors');
    await writeFile(path, concat(u64le(header.byteLength), header));
    // Sparse: the 6 GB of data take no disk space and are never read.
    const start = 8 + header.byteLength;
    await truncate(path, start + huge + 8);
    const handle = await open(path, 'r+');
    await handle.write(fromFloat32([1.5, -2], [2]).data, 0, 8, start + huge);
    await handle.close();

    const bytesRequested = await spyOnReads();
    const source = await openSafetensorsFile(path);
    expect(source.keys()).toEqual(['huge', 'tail']);
    expect(source.info('huge').shape).toEqual([huge]);
    expect(bytesRequested()).toBe(start);
    expect(await source.get('tail')).toEqual(fromFloat32([1.5, -2], [2]));
    expect(bytesRequested()).toBe(start + 8);
    await source.close();
  });

  it('reports a file truncated after it was opened, naming file and tensor', async () => {
    const path = join(dir, 'shrinks.safetensors');
    await writeSafetensorsFile(path, dict);
    const source = await openSafetensorsFile(path);
    await truncate(path, source.header.dataStart + 4);
    const error = await source.get('ids').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).tensor).toBe('ids');
    expect((error as SafetensorsError).message).toMatch(/ended early/);
    await source.close();
  });

  it('refuses reads after close', async () => {
    const path = join(dir, 'closed.safetensors');
    await writeSafetensorsFile(path, dict);
    const source = await openSafetensorsFile(path);
    await source.close();
    await source.close();
    await expect(source.get('ids')).rejects.toThrow(/closed/);
  });

  it('names the file in errors for missing files, folders and invalid headers', async () => {
    await expect(openSafetensorsFile(join(dir, 'absent.safetensors'))).rejects.toThrow(
      /absent\.safetensors: cannot open: ENOENT/,
    );
    await expect(openSafetensorsFile(dir)).rejects.toThrow(SafetensorsError);
    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, concat(u64le(1000), '{}'));
    const error = await openSafetensorsFile(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).file).toBe(bad);
  });
});
