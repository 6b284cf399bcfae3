// Loads the golden files copied into ../fixtures (trimmed copies of shared/golden/torch-uniform).
import { readFileSync } from 'node:fs';

export interface MtStreamCase {
  readonly seed: string;
  readonly seed_u32: number;
  readonly first16: number[];
  readonly at620_631: number[];
  readonly at1000_1007: number[];
}

export interface UniformCase {
  readonly seed: string;
  readonly shape: number[];
  readonly low: number;
  readonly high: number;
  readonly low_f32_hex: string;
  readonly high_f32_hex: string;
  readonly fma: { readonly values_hex: string[] };
  readonly nofma: { readonly values_hex: string[] };
}

export interface VeraMatrixGolden {
  readonly shape: [number, number];
  readonly sha256_f32le: string;
  readonly first8_hex: string[];
  readonly last8_hex: string[];
  readonly sum_f64: number;
  readonly values_hex?: string[];
}

export interface VeraCase {
  readonly seed: string;
  readonly seed_u32: number;
  readonly r: number;
  readonly max_in: number;
  readonly max_out: number;
  readonly bound_A: number;
  readonly bound_A_f32_hex: string;
  readonly bound_B: number;
  readonly bound_B_f32_hex: string;
  readonly fma: { readonly A: VeraMatrixGolden; readonly B: VeraMatrixGolden };
  readonly nofma: { readonly A: VeraMatrixGolden; readonly B: VeraMatrixGolden };
}

function loadCases<T>(file: string): T[] {
  const text = readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8');
  return (JSON.parse(text) as { cases: T[] }).cases;
}

export const mtStreamCases = (): MtStreamCase[] => loadCases('mt19937_stream.json');
export const uniformCases = (): UniformCase[] => loadCases('uniform_cases.json');
export const veraCases = (): VeraCase[] => loadCases('vera_projections.json');

/** Float32 bit patterns as 8-digit lowercase hex, the form the golden files use. */
export function float32Hex(values: Float32Array): string[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length), (bits) =>
    bits.toString(16).padStart(8, '0'),
  );
}

export function float32HexOf(value: number): string {
  return float32Hex(new Float32Array([value]))[0]!;
}

/** Little-endian float32 bytes (the layout the golden sha256 digests cover), whatever the host's order. */
export function float32LeBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}
