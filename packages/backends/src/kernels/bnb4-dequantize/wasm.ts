import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmBytes, wasmFloat32, wasmPointer } from '../backend-access.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { dequantizeTyped } from '../bnb4-shared/typed-array-kernels.js';
import { Bnb4Dequantize } from '../kernel-names.js';
import { bindWeights, writePairTable } from '../wasm-module/bind-weights.js';
import { HeapScratch } from '../wasm-module/heap.js';
import { bnb4Simd } from '../wasm-module/instance.js';

const bnb4DequantizeWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const a = bnb4Attrs(attrs);
  const n = a.outFeatures * a.inFeatures;
  const out = b.makeOutput([a.outFeatures, a.inFeatures], 'float32');
  const simd = bnb4Simd(b);
  if (!simd) {
    dequantizeTyped(
      bnb4ArraysFromInputs(inputs, a, (t) => wasmBytes(b, t)),
      wasmFloat32(b, out),
    );
    return out;
  }
  const scratch = new HeapScratch(b);
  try {
    const code = bindWeights(simd, b, inputs, a);
    const table = writePairTable(scratch, code);
    simd.dequantizeRange(0, n, table, wasmPointer(b, out));
  } finally {
    scratch.release();
  }
  return out;
};

export const bnb4DequantizeWasmConfig: KernelConfig = {
  kernelName: Bnb4Dequantize,
  backendName: 'wasm',
  kernelFunc: bnb4DequantizeWasm,
};
