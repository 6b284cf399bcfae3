// Loads the bitsandbytes golden cases copied into src/fixtures (produced by an independent numpy
// reference of the CUDA kernels; see docs/formats/bitsandbytes-4bit.md).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface GoldenCase {
  name: string;
  params: {
    quant_type: 'nf4' | 'fp4';
    blocksize: number;
    compress_statistics: boolean;
    dtype: 'float32' | 'float16' | 'bfloat16';
    shape: number[];
    numel: number;
  };
  input: { f32_le_b64: string };
  expected: {
    packed_b64: string;
    weight_tensor_shape: number[];
    quant_map: number[];
    absmax_blocks_f32: number[];
    effective_absmax: number[];
    dequantized_f32_b64: string;
    quant_state_json: string;
    absmax?: number[];
    absmax_u8?: number[];
    offset?: number;
    nested_absmax?: number[];
    nested_blocksize?: number;
    codes?: number[];
    state_dict: Record<string, { dtype: string; shape: number[] }>;
  };
}

export function readFixture<T>(file: string): T {
  return JSON.parse(readFileSync(fixtures + file, 'utf8')) as T;
}

export function goldenCases(): GoldenCase[] {
  const index = readFixture<{ cases: string[] }>('index.json');
  return index.cases.map((file) => readFixture<GoldenCase>(file));
}

export function bytesFromB64(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

export function f32FromB64(b64: string): Float32Array {
  const bytes = bytesFromB64(b64);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** float32 bit patterns, so comparisons are exact (but -0 and +0 differ; see `sameNumbers`). */
export function bitsOf(values: Float32Array | readonly number[]): number[] {
  const f = Float32Array.from(values);
  return Array.from(new Uint32Array(f.buffer));
}

/** Indices where two float arrays differ, treating -0 and +0 as equal and requiring equal length. */
export function mismatches(actual: ArrayLike<number>, expected: ArrayLike<number>): number[] {
  if (actual.length !== expected.length) return [-1];
  const bad: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(a === e || (Number.isNaN(a) && Number.isNaN(e)))) bad.push(i);
  }
  return bad;
}
