import type { BackendValues, DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';

// The few members of TensorFlow.js' backend classes that our kernels use, stated structurally: the kernels then
// depend on these members only, not on the backend packages' full types.

export interface CpuBackendLike {
  data: { get(dataId: DataId): { values?: BackendValues } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: BackendValues): TensorInfo;
}

export interface WasmBackendLike {
  wasm: {
    HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    asm?: Record<string, unknown>;
  };
  dataIdMap: { get(dataId: DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
}

function bytesPerElement(dtype: DataType): number {
  return dtype === 'bool' ? 1 : 4;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A view of a cpu-backend tensor's bytes (no copy). */
export function cpuBytes(backend: CpuBackendLike, t: TensorInfo): Uint8Array {
  const values = backend.data.get(t.dataId).values as ArrayBufferView;
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** A view of a cpu-backend float32 tensor. */
export function cpuFloat32(backend: CpuBackendLike, t: TensorInfo): Float32Array {
  const bytes = cpuBytes(backend, t);
  return new Float32Array(bytes.buffer, bytes.byteOffset, elementCount(t.shape));
}

/** Where a wasm-backend tensor lives in the wasm heap (a byte offset). */
export function wasmPointer(backend: WasmBackendLike, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (!data) throw new Error(`wasm backend has no data for a tensor of shape [${t.shape.join(', ')}]`);
  return data.memoryOffset;
}

/**
 * A view of a wasm-backend tensor's bytes in the heap. Views die when the heap grows (any malloc may grow it),
 * so take them after allocating, and do not keep them.
 */
export function wasmBytes(backend: WasmBackendLike, t: TensorInfo): Uint8Array {
  return new Uint8Array(
    backend.wasm.HEAPU8.buffer,
    wasmPointer(backend, t),
    elementCount(t.shape) * bytesPerElement(t.dtype),
  );
}

export function wasmFloat32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  return new Float32Array(backend.wasm.HEAPU8.buffer, wasmPointer(backend, t), elementCount(t.shape));
}
