import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { type CpuBackendLike, cpuBytes, cpuFloat32 } from '../backend-access.js';
import { bnb4ArraysFromInputs, bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { matmulTransposedTyped } from '../bnb4-shared/typed-array-kernels.js';
import { Bnb4MatmulTransposed } from '../kernel-names.js';

const bnb4MatmulTransposedCpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as CpuBackendLike;
  const a = bnb4Attrs(attrs);
  const dy = inputs['dy']!;
  const rows = dy.shape[0]!;
  const dx = new Float32Array(rows * a.inFeatures);
  matmulTransposedTyped(
    cpuFloat32(b, dy),
    rows,
    bnb4ArraysFromInputs(inputs, a, (t) => cpuBytes(b, t)),
    dx,
  );
  return b.makeTensorInfo([rows, a.inFeatures], 'float32', dx);
};

export const bnb4MatmulTransposedCpuConfig: KernelConfig = {
  kernelName: Bnb4MatmulTransposed,
  backendName: 'cpu',
  kernelFunc: bnb4MatmulTransposedCpu,
};
