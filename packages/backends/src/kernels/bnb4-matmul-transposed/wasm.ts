import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmBytes, wasmFloat32, wasmPointer } from '../backend-access.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { matmulTransposedTyped } from '../bnb4-shared/typed-array-kernels.js';
import { Bnb4MatmulTransposed } from '../kernel-names.js';
import { bindWeights, writePairTable } from '../wasm-module/bind-weights.js';
import { HeapScratch } from '../wasm-module/heap.js';
import { bnb4Simd } from '../wasm-module/instance.js';

const bnb4MatmulTransposedWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const a = bnb4Attrs(attrs);
  const dy = inputs['dy']!;
  const rows = dy.shape[0]!;
  const out = b.makeOutput([rows, a.inFeatures], 'float32');
  if (rows === 0 || a.inFeatures === 0) return out;
  const simd = bnb4Simd(b);
  if (!simd) {
    matmulTransposedTyped(
      wasmFloat32(b, dy),
      rows,
      bnb4ArraysFromInputs(inputs, a, (t) => wasmBytes(b, t)),
      wasmFloat32(b, out),
    );
    return out;
  }
  const scratch = new HeapScratch(b);
  try {
    const code = bindWeights(simd, b, inputs, a);
    const table = writePairTable(scratch, code);
    const rowBuf = scratch.alloc(a.inFeatures * 4);
    simd.matmulTransposed(wasmPointer(b, dy), rows, wasmPointer(b, out), rowBuf, table);
  } finally {
    scratch.release();
  }
  return out;
};

export const bnb4MatmulTransposedWasmConfig: KernelConfig = {
  kernelName: Bnb4MatmulTransposed,
  backendName: 'wasm',
  kernelFunc: bnb4MatmulTransposedWasm,
};
