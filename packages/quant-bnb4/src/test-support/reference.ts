// A slow, obviously-correct restatement of the bitsandbytes CUDA semantics (docs/formats/bitsandbytes-4bit.md),
// written independently of src/ (it takes its tables from the golden tables.json, not from tables.ts) so
// that the fast quantizer can be checked against it on inputs the golden files do not cover.
import { readFixture } from './golden.js';

interface Tables {
  nf4_code_u32_hex: string[];
  fp4_code_u32_hex: string[];
  fp4_cuda_thresholds_abs: number[];
  fp4_rank_to_bits: number[];
  dynamic_map_signed_u32_hex: string[];
}
const tables = readFixture<Tables>('tables.json');
const fromHex = (hex: string[]) =>
  new Float32Array(new Uint32Array(hex.map((h) => Number.parseInt(h, 16))).buffer);

export const REF_NF4 = fromHex(tables.nf4_code_u32_hex);
export const REF_FP4 = fromHex(tables.fp4_code_u32_hex);
export const REF_DYNAMIC = fromHex(tables.dynamic_map_signed_u32_hex);
const f32 = Math.fround;

/** NF4: number of float32 midpoints of neighbouring levels strictly below s (NaN -> 0). */
export function refNf4(s: number): number {
  let code = 0;
  for (let k = 0; k < 15; k++) if (s > f32(f32(REF_NF4[k]! + REF_NF4[k + 1]!) / 2)) code++;
  return code;
}

/** FP4: sign for s < 0; magnitude rank against the kernel's literal thresholds. */
export function refFp4(s: number): number {
  const a = Math.abs(s);
  const rank = tables.fp4_cuda_thresholds_abs.filter((t) => a > f32(t)).length;
  return tables.fp4_rank_to_bits[rank]! | (s < 0 ? 8 : 0);
}

/** 8-bit: the nearest map entry by float32 midpoints; a value exactly on a midpoint takes the even index. */
export function refDynamic8(s: number): number {
  if (Number.isNaN(s)) return 0;
  for (let j = 0; j < 255; j++) {
    const mid = f32(f32(REF_DYNAMIC[j]! + REF_DYNAMIC[j + 1]!) * 0.5);
    if (s < mid) return j;
    if (s === mid) return j % 2 === 0 ? j : j + 1;
  }
  return 255;
}

/** Exact mean of float32 values (one BigInt per value), rounded to float64 then float32. */
export function refMean(values: Float32Array): number {
  let total = 0n;
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (const b of bits) {
    const e = (b >>> 23) & 0xff;
    const m = BigInt(e ? (b & 0x7fffff) | 0x800000 : b & 0x7fffff) << BigInt(e ? e - 1 : 0);
    total += b >>> 31 ? -m : m;
  }
  return f32((Number(total) * 2 ** -149) / values.length);
}

export interface RefResult {
  codes: number[];
  absmax: Float32Array;
  nested: { codes: number[]; absmax: Float32Array; offset: number } | null;
  dequantized: Float32Array;
}

function blockwise(values: Float32Array, blocksize: number, encode: (s: number) => number) {
  const codes: number[] = [];
  const absmax = new Float32Array(Math.ceil(values.length / blocksize));
  for (let b = 0; b < absmax.length; b++) {
    const block = Array.from(values.subarray(b * blocksize, (b + 1) * blocksize));
    absmax[b] = Math.max(0, ...block.map(Math.abs));
    const inv = f32(1 / absmax[b]!);
    for (const x of block) codes.push(encode(f32(x * inv)));
  }
  return { codes, absmax };
}

export function refQuantize(
  values: Float32Array,
  quantType: 'nf4' | 'fp4',
  blocksize: number,
  nested: boolean,
): RefResult {
  const { codes, absmax } = blockwise(values, blocksize, quantType === 'nf4' ? refNf4 : refFp4);
  const table = quantType === 'nf4' ? REF_NF4 : REF_FP4;
  let effective = absmax;
  let nestedResult: RefResult['nested'] = null;
  if (nested) {
    const offset = refMean(absmax);
    const centred = absmax.map((a) => f32(a - offset));
    const second = blockwise(centred, 256, refDynamic8);
    nestedResult = { codes: second.codes, absmax: second.absmax, offset };
    effective = absmax.map((_, b) =>
      f32(f32(REF_DYNAMIC[second.codes[b]!]! * second.absmax[Math.floor(b / 256)]!) + offset),
    );
  }
  const dequantized = values.map((_, i) => f32(table[codes[i]!]! * effective[Math.floor(i / blocksize)]!));
  return { codes, absmax, nested: nestedResult, dequantized };
}
