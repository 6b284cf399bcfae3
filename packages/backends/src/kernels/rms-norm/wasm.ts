import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmFloat32 } from '../backend-access.js';
import { RmsNorm, type RmsNormAttrs } from '../kernel-names.js';
import { rmsNormImpl } from './reference.js';

// RMSNorm is one pass over memory; the typed-array implementation reading and writing the wasm heap in place is
// as fast as the data movement allows, so it needs no wasm code of its own.
const rmsNormWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const x = inputs['x']!;
  const [rows, D] = x.shape as [number, number];
  const out = b.makeOutput([rows, D], 'float32');
  const { epsilon } = attrs as NamedAttrMap & RmsNormAttrs;
  rmsNormImpl(wasmFloat32(b, x), wasmFloat32(b, inputs['weight']!), rows, D, epsilon, wasmFloat32(b, out));
  return out;
};

export const rmsNormWasmConfig: KernelConfig = {
  kernelName: RmsNorm,
  backendName: 'wasm',
  kernelFunc: rmsNormWasm,
};
