import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { bnb4Uniforms, bnb4WeightTensors } from '../bnb4-shared/webgpu-inputs.js';
import { BNB4_UNIFORMS, bnb4Functions, bnb4VariableNames } from '../bnb4-shared/wgsl.js';
import { Bnb4Matmul } from '../kernel-names.js';
import { threadedProgram, type WebGpuBackendLike } from '../webgpu-program.js';

// One invocation per output y[m, n]: walks row n of W one scale block at a time, unpacking nibbles in-shader.
const bnb4MatmulWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const a = bnb4Attrs(attrs);
  const x = inputs['x']!;
  const rows = x.shape[0]!;
  const program = threadedProgram({
    key: `bnb4_matmul_${a.nested ? 'nested' : 'plain'}`,
    outputShape: [rows, a.outFeatures],
    variableNames: ['x', ...bnb4VariableNames(a.nested)],
    threads: rows * a.outFeatures,
    uniforms: BNB4_UNIFORMS,
    body: `${bnb4Functions(a.nested)}
fn main(index : i32) {
  if (index >= uniforms.M * uniforms.N) { return; }
  let K = uniforms.K;
  let m = index / uniforms.N;
  let n = index - m * uniforms.N;
  let xBase = m * K;
  let eBase = n * K;
  var sum = 0.0;
  var k = 0;
  loop {
    if (k >= K) { break; }
    let b = (eBase + k) / uniforms.blocksize;
    let segmentEnd = min(K, (b + 1) * uniforms.blocksize - eBase);
    var partial = 0.0;
    for (; k < segmentEnd; k++) { partial += x[xBase + k] * wCode[nibble(eBase + k)]; }
    sum += partial * blockScale(b);
  }
  setOutputAtIndex(index, sum);
}`,
  });
  return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
    program,
    [x, ...bnb4WeightTensors(inputs, a.nested)],
    'float32',
    bnb4Uniforms(a, rows),
  );
};

export const bnb4MatmulWebGpuConfig: KernelConfig = {
  kernelName: Bnb4Matmul,
  backendName: 'webgpu',
  kernelFunc: bnb4MatmulWebGpu,
};
