import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { bnb4Attrs } from '../bnb4-shared/kernel-inputs.js';
import { bnb4Uniforms, bnb4WeightTensors } from '../bnb4-shared/webgpu-inputs.js';
import { BNB4_UNIFORMS, bnb4Functions, bnb4VariableNames } from '../bnb4-shared/wgsl.js';
import { Bnb4Dequantize } from '../kernel-names.js';
import { threadedProgram, type WebGpuBackendLike } from '../webgpu-program.js';

const bnb4DequantizeWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const a = bnb4Attrs(attrs);
  const n = a.outFeatures * a.inFeatures;
  const program = threadedProgram({
    key: `bnb4_dequantize_${a.nested ? 'nested' : 'plain'}`,
    outputShape: [a.outFeatures, a.inFeatures],
    variableNames: bnb4VariableNames(a.nested),
    threads: n,
    uniforms: BNB4_UNIFORMS,
    body: `${bnb4Functions(a.nested)}
fn main(index : i32) {
  if (index >= uniforms.N * uniforms.K) { return; }
  setOutputAtIndex(index, wCode[nibble(index)] * blockScale(index / uniforms.blocksize));
}`,
  });
  const weights: TensorInfo[] = bnb4WeightTensors(inputs, a.nested);
  return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
    program,
    weights,
    'float32',
    bnb4Uniforms(a, 0),
  );
};

export const bnb4DequantizeWebGpuConfig: KernelConfig = {
  kernelName: Bnb4Dequantize,
  backendName: 'webgpu',
  kernelFunc: bnb4DequantizeWebGpu,
};
