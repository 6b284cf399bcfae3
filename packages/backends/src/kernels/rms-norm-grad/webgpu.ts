import type { KernelConfig, KernelFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { type RmsNormAttrs, RmsNormGrad } from '../kernel-names.js';
import { type ProgramUniform, threadedProgram, type WebGpuBackendLike } from '../webgpu-program.js';

// Three passes: rstd per row; dx one row per invocation; dweight one column per invocation (a column sums over
// rows, so it must not share an invocation with a row).
const RSTD = `
fn main(row : i32) {
  if (row >= uniforms.rows) { return; }
  let D = uniforms.D;
  var sumSquares = 0.0;
  for (var i = 0; i < D; i++) { let v = x[row * D + i]; sumSquares += v * v; }
  setOutputAtIndex(row, inverseSqrt(sumSquares / f32(D) + uniforms.epsilon));
}`;

const DX = `
fn main(row : i32) {
  if (row >= uniforms.rows) { return; }
  let D = uniforms.D;
  let base = row * D;
  let r = rstd[row];
  var dot = 0.0;
  for (var i = 0; i < D; i++) { dot += dy[base + i] * weight[i] * x[base + i]; }
  let correction = r * r * r * dot / f32(D);
  for (var i = 0; i < D; i++) {
    setOutputAtIndex(base + i, r * weight[i] * dy[base + i] - x[base + i] * correction);
  }
}`;

const DW = `
fn main(column : i32) {
  if (column >= uniforms.D) { return; }
  let D = uniforms.D;
  var sum = 0.0;
  for (var row = 0; row < uniforms.rows; row++) { sum += dy[row * D + column] * x[row * D + column] * rstd[row]; }
  setOutputAtIndex(column, sum);
}`;

const rmsNormGradWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WebGpuBackendLike;
  const x = inputs['x']!;
  const dy = inputs['dy']!;
  const weight = inputs['weight']!;
  const [rows, D] = x.shape as [number, number];
  const { epsilon } = attrs as NamedAttrMap & RmsNormAttrs;
  const uniforms: ProgramUniform[] = [
    { type: 'int32', data: [rows] },
    { type: 'int32', data: [D] },
    { type: 'float32', data: [epsilon] },
  ];
  const declared = 'rows : i32, D : i32, epsilon : f32,';
  const rstd = b.runWebGPUProgram(
    threadedProgram({
      key: 'rms_norm_rstd',
      outputShape: [rows],
      variableNames: ['x'],
      threads: rows,
      uniforms: declared,
      body: RSTD,
    }),
    [x],
    'float32',
    uniforms,
  );
  const dx = b.runWebGPUProgram(
    threadedProgram({
      key: 'rms_norm_dx',
      outputShape: [rows, D],
      variableNames: ['dy', 'x', 'weight', 'rstd'],
      threads: rows,
      uniforms: declared,
      body: DX,
    }),
    [dy, x, weight, rstd],
    'float32',
    uniforms,
  );
  const dw = b.runWebGPUProgram(
    threadedProgram({
      key: 'rms_norm_dw',
      outputShape: [D],
      variableNames: ['dy', 'x', 'rstd'],
      threads: D,
      uniforms: declared,
      body: DW,
    }),
    [dy, x, rstd],
    'float32',
    uniforms,
  );
  b.disposeData(rstd.dataId);
  return [dx, dw];
};

export const rmsNormGradWebGpuConfig: KernelConfig = {
  kernelName: RmsNormGrad,
  backendName: 'webgpu',
  kernelFunc: rmsNormGradWebGpu,
};
