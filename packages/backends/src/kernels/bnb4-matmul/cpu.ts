import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { type CpuBackendLike, cpuBytes, cpuFloat32 } from '../backend-access.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { matmulTyped } from '../bnb4-shared/typed-array-kernels.js';
import { Bnb4Matmul } from '../kernel-names.js';

const bnb4MatmulCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as CpuBackendLike;
  const a = bnb4Attrs(attrs);
  const x = inputs['x']!;
  const rows = x.shape[0]!;
  const y = new Float32Array(rows * a.outFeatures);
  matmulTyped(
    cpuFloat32(b, x),
    rows,
    bnb4ArraysFromInputs(inputs, a, (t) => cpuBytes(b, t)),
    y,
  );
  return b.makeTensorInfo([rows, a.outFeatures], 'float32', y);
};

export const bnb4MatmulCpuConfig: KernelConfig = {
  kernelName: Bnb4Matmul,
  backendName: 'cpu',
  kernelFunc: bnb4MatmulCpu,
};
