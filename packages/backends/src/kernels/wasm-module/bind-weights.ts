import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmFloat32, wasmPointer } from '../backend-access.js';
import { pairTable } from '../bnb4-shared/code-tables.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { HeapScratch } from './heap.js';
import type { Bnb4SimdExports } from './instance.js';

/** Points the module at a weight's tensors (in place) and returns the weight's code table as floats. */
export function bindWeights(
  simd: Bnb4SimdExports,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  attrs: Bnb4Attrs,
): Float32Array {
  const pointer = (name: string): number => (inputs[name] ? wasmPointer(backend, inputs[name]!) : 0);
  simd.bindWeights(
    pointer('packed'),
    pointer('absmax'),
    attrs.nested ? 1 : 0,
    attrs.nested ? pointer('nestedAbsmax') : 0,
    attrs.nested ? pointer('nestedCode') : 0,
    attrs.nestedBlocksize,
    attrs.offset,
    pointer('code'),
    Math.log2(attrs.blocksize),
    attrs.outFeatures,
    attrs.inFeatures,
  );
  return wasmFloat32(backend, inputs['code']!).slice();
}

/** Writes the byte -> two codes table into fresh scratch and returns its offset. */
export function writePairTable(scratch: HeapScratch, code: Float32Array): number {
  const pointer = scratch.alloc(512 * 4);
  scratch.f32(pointer, 512).set(pairTable(code));
  return pointer;
}
