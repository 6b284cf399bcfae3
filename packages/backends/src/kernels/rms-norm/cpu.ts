import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { type CpuBackendLike, cpuFloat32 } from '../backend-access.js';
import { RmsNorm, type RmsNormAttrs } from '../kernel-names.js';
import { rmsNormImpl } from './reference.js';

const rmsNormCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as CpuBackendLike;
  const x = inputs['x']!;
  const [rows, D] = x.shape as [number, number];
  const y = new Float32Array(rows * D);
  const { epsilon } = attrs as NamedAttrMap & RmsNormAttrs;
  rmsNormImpl(cpuFloat32(b, x), cpuFloat32(b, inputs['weight']!), rows, D, epsilon, y);
  return b.makeTensorInfo([rows, D], 'float32', y);
};

export const rmsNormCpuConfig: KernelConfig = {
  kernelName: RmsNorm,
  backendName: 'cpu',
  kernelFunc: rmsNormCpu,
};
