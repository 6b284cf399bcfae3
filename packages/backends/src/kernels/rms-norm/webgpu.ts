import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { RmsNorm, type RmsNormAttrs } from '../kernel-names.js';
import { threadedProgram, type WebGpuBackendLike } from '../webgpu-program.js';

// One invocation per row: the row's mean square, then the scaled row.
const BODY = `
fn main(row : i32) {
  if (row >= uniforms.rows) { return; }
  let D = uniforms.D;
  let base = row * D;
  var sumSquares = 0.0;
  for (var i = 0; i < D; i++) { let v = x[base + i]; sumSquares += v * v; }
  let rstd = inverseSqrt(sumSquares / f32(D) + uniforms.epsilon);
  for (var i = 0; i < D; i++) { setOutputAtIndex(base + i, x[base + i] * rstd * weight[i]); }
}`;

const rmsNormWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const x = inputs['x']!;
  const [rows, D] = x.shape as [number, number];
  const { epsilon } = attrs as NamedAttrMap & RmsNormAttrs;
  const program = threadedProgram({
    key: 'rms_norm',
    outputShape: [rows, D],
    variableNames: ['x', 'weight'],
    threads: rows,
    uniforms: 'rows : i32, D : i32, epsilon : f32,',
    body: BODY,
  });
  return (backend as unknown as WebGpuBackendLike).runWebGPUProgram(
    program,
    [x, inputs['weight']!],
    'float32',
    [
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [D] },
      { type: 'float32', data: [epsilon] },
    ],
  );
};

export const rmsNormWebGpuConfig: KernelConfig = {
  kernelName: RmsNorm,
  backendName: 'webgpu',
  kernelFunc: rmsNormWebGpu,
};
