import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmFloat32 } from '../backend-access.js';
import { type RmsNormAttrs, RmsNormGrad } from '../kernel-names.js';
import { rmsNormGradImpl } from './reference.js';

const rmsNormGradWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const x = inputs['x']!;
  const [rows, D] = x.shape as [number, number];
  const { epsilon } = attrs as NamedAttrMap & RmsNormAttrs;
  const dx = b.makeOutput([rows, D], 'float32');
  const dw = b.makeOutput([D], 'float32');
  // Views are taken after both allocations: an allocation may grow (and so detach) the heap.
  rmsNormGradImpl(
    wasmFloat32(b, inputs['dy']!),
    wasmFloat32(b, x),
    wasmFloat32(b, inputs['weight']!),
    rows,
    D,
    epsilon,
    wasmFloat32(b, dx),
    wasmFloat32(b, dw),
  );
  return [dx, dw];
};

export const rmsNormGradWasmConfig: KernelConfig = {
  kernelName: RmsNormGrad,
  backendName: 'wasm',
  kernelFunc: rmsNormGradWasm,
};
