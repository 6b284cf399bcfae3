import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../errors.js';
import { fromFloat32 } from '../host-tensor.js';
import { openSafetensorsBlob } from './blob.js';
import { serializeSafetensors } from './serialize.js';
import { fileWithHeader } from './test-support/hand-built.js';

/** Records every byte range the reader asks the Blob for. */
class RecordingBlob extends Blob {
  readonly ranges: [number, number][] = [];
  override slice(start?: number, end?: number, contentType?: string): Blob {
    this.ranges.push([start ?? 0, end ?? this.size]);
    return super.slice(start, end, contentType);
  }
}

describe('openSafetensorsBlob', () => {
  const dict = new Map([
    ['big', fromFloat32(new Float32Array(4096).fill(0.5), [64, 64])],
    ['small', fromFloat32([1, 2, 3], [3])],
  ]);
  const file = serializeSafetensors(dict, { format: 'pt' });

  it('reads only the length prefix and the header when opened', async () => {
    const blob = new RecordingBlob([file]);
    const source = await openSafetensorsBlob(blob, 'model.safetensors');
    const headerLength = source.header.headerByteLength;
    expect(blob.ranges).toEqual([
      [0, 8],
      [8, 8 + headerLength],
    ]);
    expect(source.keys()).toEqual(['big', 'small']);
    expect(source.info('big').shape).toEqual([64, 64]);
    expect(source.metadata?.get('format')).toBe('pt');
    expect(blob.ranges).toHaveLength(2);
  });

  it("reads just one tensor's bytes on get", async () => {
    const blob = new RecordingBlob([file]);
    const source = await openSafetensorsBlob(blob);
    const small = await source.get('small');
    const start = source.header.dataStart;
    expect(blob.ranges.at(-1)).toEqual([start + 4096 * 4, start + 4096 * 4 + 12]);
    expect(small).toEqual(dict.get('small'));
    expect(await source.readAll()).toEqual(dict);
  });

  it('names errors after the File, or the name given', async () => {
    const bad = fileWithHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4);
    await expect(openSafetensorsBlob(new File([bad], 'upload.safetensors'))).rejects.toThrow(
      /^upload\.safetensors \[w\]: data_offsets \[0, 8\] run past/,
    );
    const error = await openSafetensorsBlob(new Blob([bad]), 'given-name').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).file).toBe('given-name');
  });
});
