import type { DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';

/** The shape of a TensorFlow.js WebGPU program (see tfjs-backend-webgpu's `WebGPUProgram`), stated structurally. */
export interface WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  uniforms?: string;
  getUserCode(): string;
}

export interface ProgramUniform {
  type: 'int32' | 'float32';
  data: number[];
}

export interface WebGpuBackendLike {
  runWebGPUProgram(
    program: WebGpuProgram,
    inputs: TensorInfo[],
    outputDtype: DataType,
    uniforms?: ProgramUniform[],
  ): TensorInfo;
  disposeData(dataId: DataId): boolean;
}

const WORKGROUP = 64;
const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/**
 * A program with one invocation per work item (`threads` of them; an item may write several outputs). tfjs
 * prepends the bindings (`result`, one `array<f32|i32>` per variable, `uniforms`) and calls `main(index)`, where
 * index counts invocations across a 2-D dispatch when one dimension would exceed WebGPU's limit.
 */
export function threadedProgram(options: {
  key: string;
  outputShape: number[];
  variableNames: string[];
  threads: number;
  uniforms: string;
  body: string;
}): WebGpuProgram {
  const groups = Math.max(1, Math.ceil(options.threads / WORKGROUP));
  let dispatch: [number, number, number] = [groups, 1, 1];
  if (groups > MAX_WORKGROUPS_PER_DIMENSION) {
    const x = Math.ceil(Math.sqrt(groups));
    dispatch = [x, Math.ceil(groups / x), 1];
  }
  return {
    outputShape: options.outputShape,
    shaderKey: `peft_${options.key}`,
    dispatchLayout: { x: options.outputShape.map((_, i) => i) },
    dispatch,
    variableNames: options.variableNames,
    workgroupSize: [WORKGROUP, 1, 1],
    uniforms: options.uniforms,
    getUserCode: () => options.body,
  };
}
