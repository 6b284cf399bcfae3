import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { type CpuBackendLike, cpuFloat32 } from '../backend-access.js';
import { type RmsNormAttrs, RmsNormGrad } from '../kernel-names.js';
import { rmsNormGradImpl } from './reference.js';

const rmsNormGradCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as CpuBackendLike;
  const x = inputs['x']!;
  const [rows, D] = x.shape as [number, number];
  const { epsilon } = attrs as NamedAttrMap & RmsNormAttrs;
  const dx = new Float32Array(rows * D);
  const dw = new Float32Array(D);
  rmsNormGradImpl(
    cpuFloat32(b, inputs['dy']!),
    cpuFloat32(b, x),
    cpuFloat32(b, inputs['weight']!),
    rows,
    D,
    epsilon,
    dx,
    dw,
  );
  return [b.makeTensorInfo([rows, D], 'float32', dx), b.makeTensorInfo([D], 'float32', dw)];
};

export const rmsNormGradCpuConfig: KernelConfig = {
  kernelName: RmsNormGrad,
  backendName: 'cpu',
  kernelFunc: rmsNormGradCpu,
};
