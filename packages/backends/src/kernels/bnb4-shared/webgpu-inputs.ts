import type { NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { ProgramUniform } from '../webgpu-program.js';

/** The weight tensors in the order of bnb4VariableNames. */
export function bnb4WeightTensors(inputs: NamedTensorInfoMap, nested: boolean): TensorInfo[] {
  const names = nested
    ? ['packed', 'absmax', 'code', 'nestedAbsmax', 'nestedCode']
    : ['packed', 'absmax', 'code'];
  return names.map((name) => inputs[name]!);
}

/** Values for BNB4_UNIFORMS. */
export function bnb4Uniforms(a: Bnb4Attrs, rows: number): ProgramUniform[] {
  return [
    { type: 'int32', data: [a.blocksize] },
    { type: 'int32', data: [a.nestedBlocksize] },
    { type: 'float32', data: [a.offset] },
    { type: 'int32', data: [a.outFeatures] },
    { type: 'int32', data: [a.inFeatures] },
    { type: 'int32', data: [rows] },
  ];
}
