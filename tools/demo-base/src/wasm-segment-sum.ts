import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendLike {
  readSync(dataId: unknown): Float32Array | Int32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * tfjs-backend-wasm has no `UnsortedSegmentSum`, which is the gradient of `gather`, so an embedding
 * table cannot be trained there. Pretraining the demo base needs it; a plain loop is enough (the
 * table is small and this runs once per step).
 */
export function registerWasmUnsortedSegmentSum(): void {
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackendLike;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const values = wasm.readSync(x.dataId) as Float32Array;
      const ids = wasm.readSync(segmentIds.dataId) as Int32Array;
      const inner = ids.length === 0 ? 0 : values.length / ids.length;
      const output = wasm.makeOutput([numSegments, ...x.shape.slice(1)], 'float32');
      const out = wasm.typedArrayFromHeap(output);
      out.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const row = ids[i]!;
        if (row < 0 || row >= numSegments) continue;
        for (let j = 0; j < inner; j++) out[row * inner + j]! += values[i * inner + j]!;
      }
      return output;
    },
  });
}
