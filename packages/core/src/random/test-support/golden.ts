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

function loadCases<T>(file: string): T[] {
  const text = readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8');
  return (JSON.parse(text) as { cases: T[] }).cases;
}

export const mtStreamCases = (): MtStreamCase[] => loadCases('mt19937_stream.json');
export const uniformCases = (): UniformCase[] => loadCases('uniform_cases.json');

/** Float32 bit patterns as 8-digit lowercase hex, the form the golden files use. */
export function float32Hex(values: Float32Array): string[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length), (bits) =>
    bits.toString(16).padStart(8, '0'),
  );
}

export function float32HexOf(value: number): string {
  return float32Hex(new Float32Array([value]))[0]!;
}
