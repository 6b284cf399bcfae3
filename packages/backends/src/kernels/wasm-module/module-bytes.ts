import { BNB4_SIMD_WASM_BASE64 } from './bnb4-simd.generated.js';
import { BNB4_SIMD_RELAXED_WASM_BASE64 } from './bnb4-simd-relaxed.generated.js';
import { BNB4_SIMD_SHARED_WASM_BASE64 } from './bnb4-simd-shared.generated.js';
import { BNB4_SIMD_SHARED_RELAXED_WASM_BASE64 } from './bnb4-simd-shared-relaxed.generated.js';

/** Which build of the kernels' module runs: with relaxed SIMD (one pshufb per table lookup) or without. */
export type SimdBuild = 'relaxed' | 'plain';

/** The bytes of a base64-embedded wasm module (atob: available in Node >= 16 and browsers, no Buffer needed). */
export function base64Bytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The kernels' module for an ordinary or a shared memory: the relaxed-SIMD build where this engine validates it
 * (Chrome, Node >= 22), else the plain one. Both compute identical results (assembly/lookup.ts).
 */
export function simdModuleBytes(shared: boolean): { build: SimdBuild; bytes: Uint8Array } {
  const relaxed = base64Bytes(shared ? BNB4_SIMD_SHARED_RELAXED_WASM_BASE64 : BNB4_SIMD_RELAXED_WASM_BASE64);
  if (WebAssembly.validate(relaxed as BufferSource)) return { build: 'relaxed', bytes: relaxed };
  return {
    build: 'plain',
    bytes: base64Bytes(shared ? BNB4_SIMD_SHARED_WASM_BASE64 : BNB4_SIMD_WASM_BASE64),
  };
}
