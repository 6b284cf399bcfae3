// The bitsandbytes golden cases (produced by an independent numpy reference of the CUDA kernels; see
// docs/formats/bitsandbytes-4bit.md). This package owns the only copy, in src/fixtures; other workspace
// packages' tests read it through `@peft/quant-bnb4/testing` instead of copying the files.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The same folder from src/testing/ (this package's tests) and from dist/testing/ (other packages' tests).
const fixtures = fileURLToPath(new URL('../../src/fixtures/', import.meta.url));

export interface Bnb4GoldenCase {
  /** The case name, its file name without `.json`, e.g. `nf4_fp16_dq_6x64`. */
  name: string;
  params: {
    quant_type: 'nf4' | 'fp4';
    blocksize: number;
    compress_statistics: boolean;
    dtype: 'float32' | 'float16' | 'bfloat16';
    shape: number[];
    numel: number;
  };
  /** The weight before quantization, float32 little-endian. */
  input: { f32_le_b64: string };
  expected: {
    packed_b64: string;
    weight_tensor_shape: number[];
    quant_map: number[];
    absmax_blocks_f32: number[];
    effective_absmax: number[];
    /** bitsandbytes' dequantization, already cast to `params.dtype` and back to float32. */
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

/** A JSON file of the golden set (`index.json`, `tables.json` or a case), parsed. */
export function readBnb4Fixture<T>(file: string): T {
  return JSON.parse(readFileSync(fixtures + file, 'utf8')) as T;
}

/** Every golden case listed in `index.json`, in its order. */
export function bnb4GoldenCases(): Bnb4GoldenCase[] {
  const index = readBnb4Fixture<{ cases: string[] }>('index.json');
  return index.cases.map((file) => readBnb4Fixture<Bnb4GoldenCase>(file));
}

/** One golden case by file name (with or without `.json`). */
export function bnb4GoldenCase(name: string): Bnb4GoldenCase {
  return readBnb4Fixture<Bnb4GoldenCase>(name.endsWith('.json') ? name : `${name}.json`);
}

export function bytesFromBase64(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

export function float32FromBase64(b64: string): Float32Array {
  const bytes = bytesFromBase64(b64);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}
