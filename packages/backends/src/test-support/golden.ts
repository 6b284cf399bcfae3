import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bnb4Arrays } from '../kernels/bnb4-shared/arrays.js';
import { DYNAMIC_MAP } from './random.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'bnb4');

export interface GoldenCase {
  name: string;
  dtype: string;
  weights: Bnb4Arrays;
  /** Expected W as float32 (the bitsandbytes dequantization before the cast to the model dtype). */
  dequantized: Float32Array;
}

function bytes(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

interface GoldenFile {
  params: { blocksize: number; compress_statistics: boolean; dtype: string; shape: number[] };
  expected: {
    packed_b64: string;
    quant_map: number[];
    absmax_blocks_f32?: number[];
    absmax_u8?: number[];
    offset?: number;
    nested_absmax?: number[];
    nested_blocksize?: number;
    dequantized_f32_b64: string;
  };
}

/** The golden bitsandbytes cases (produced by an independent reference of the CUDA kernels), as typed arrays. */
export function goldenCases(): GoldenCase[] {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { cases: string[] };
  const present = new Set(readdirSync(dir));
  return index.cases
    .filter((file) => present.has(file))
    .map((file) => {
      const g = JSON.parse(readFileSync(join(dir, file), 'utf8')) as GoldenFile;
      const { shape, blocksize, compress_statistics: nested, dtype } = g.params;
      const [outFeatures, inFeatures] = shape.length === 2 ? [shape[0]!, shape[1]!] : [1, shape[0]!];
      const e = g.expected;
      const weights: Bnb4Arrays = {
        packed: bytes(e.packed_b64),
        absmax: nested ? Uint8Array.from(e.absmax_u8!) : Float32Array.from(e.absmax_blocks_f32!),
        nestedAbsmax: nested ? Float32Array.from(e.nested_absmax!) : null,
        nestedCode: nested ? DYNAMIC_MAP : null,
        code: Float32Array.from(e.quant_map),
        outFeatures,
        inFeatures,
        blocksize,
        nestedBlocksize: e.nested_blocksize ?? 256,
        offset: nested ? e.offset! : 0,
      };
      const out = bytes(e.dequantized_f32_b64);
      return {
        name: file,
        dtype,
        weights,
        dequantized: new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4),
      };
    });
}
