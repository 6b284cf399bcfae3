import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { bnb4Uniforms, bnb4WeightTensors } from '../bnb4-shared/webgpu-inputs.js';
import { BNB4_UNIFORMS, bnb4Functions, bnb4VariableNames } from '../bnb4-shared/wgsl.js';
import { Bnb4MatmulTransposed } from '../kernel-names.js';
import { threadedProgram, type WebGpuBackendLike } from '../webgpu-program.js';

// One invocation per output dx[m, k]: walks column k of W (stride K), unpacking nibbles in-shader.
const bnb4MatmulTransposedWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const a = bnb4Attrs(attrs);
  const dy = inputs['dy']!;
  const rows = dy.shape[0]!;
  const program = threadedProgram({
    key: `bnb4_matmul_t_${a.nested ? 'nested' : 'plain'}`,
    outputShape: [rows, a.inFeatures],
    variableNames: ['dy', ...bnb4VariableNames(a.nested)],
    threads: rows * a.inFeatures,
    uniforms: BNB4_UNIFORMS,
    body: `${bnb4Functions(a.nested)}
fn main(index : i32) {
  if (index >= uniforms.M * uniforms.K) { return; }
  let K = uniforms.K;
  let N = uniforms.N;
  let m = index / K;
  let k = index - m * K;
  var sum = 0.0;
  for (var n = 0; n < N; n++) {
    let e = n * K + k;
    sum += dy[m * N + n] * (wCode[nibble(e)] * blockScale(e / uniforms.blocksize));
  }
  setOutputAtIndex(index, sum);
}`,
  });
  return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
    program,
    [dy, ...bnb4WeightTensors(inputs, a.nested)],
    'float32',
    bnb4Uniforms(a, rows),
  );
};

export const bnb4MatmulTransposedWebGpuConfig: KernelConfig = {
  kernelName: Bnb4MatmulTransposed,
  backendName: 'webgpu',
  kernelFunc: bnb4MatmulTransposedWebGpu,
};
