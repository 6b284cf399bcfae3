import { fromFloat32, parseSafetensors, serializeSafetensors } from '@peft/core';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { zipAdapterFiles } from './download.js';

describe('zipAdapterFiles', () => {
  it('stores the adapter files at the zip root, byte for byte', () => {
    const weights = serializeSafetensors(
      new Map([['base_model.vera_A', fromFloat32([1, 2, 3, 4], [2, 2])]]),
      {
        format: 'pt',
      },
    );
    const config = new TextEncoder().encode('{\n  "peft_type": "VERA"\n}');
    const zip = zipAdapterFiles([
      ['adapter_config.json', config],
      ['adapter_model.safetensors', weights],
    ]);
    expect([...zip.subarray(0, 4)]).toEqual([0x50, 0x4b, 0x03, 0x04]); // "PK\3\4"
    const files = unzipSync(zip);
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(files['adapter_config.json']).toEqual(config);
    expect(files['adapter_model.safetensors']).toEqual(weights);
    expect(parseSafetensors(files['adapter_model.safetensors']!).metadata?.get('format')).toBe('pt');
  });

  it('keeps subfolders of named adapters', () => {
    const files = unzipSync(zipAdapterFiles([['other/adapter_config.json', new Uint8Array([123, 125])]]));
    expect(Object.keys(files)).toEqual(['other/adapter_config.json']);
  });
});
