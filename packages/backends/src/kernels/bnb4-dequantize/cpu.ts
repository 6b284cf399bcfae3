import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { type CpuBackendLike, cpuBytes } from '../backend-access.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { dequantizeTyped } from '../bnb4-shared/typed-array-kernels.js';
import { Bnb4Dequantize } from '../kernel-names.js';

const bnb4DequantizeCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as CpuBackendLike;
  const a = bnb4Attrs(attrs);
  const out = new Float32Array(a.outFeatures * a.inFeatures);
  dequantizeTyped(
    bnb4ArraysFromInputs(inputs, a, (t) => cpuBytes(b, t)),
    out,
  );
  return b.makeTensorInfo([a.outFeatures, a.inFeatures], 'float32', out);
};

export const bnb4DequantizeCpuConfig: KernelConfig = {
  kernelName: Bnb4Dequantize,
  backendName: 'cpu',
  kernelFunc: bnb4DequantizeCpu,
};
