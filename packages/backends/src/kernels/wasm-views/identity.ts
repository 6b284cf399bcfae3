import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

/** The member of tfjs-backend-wasm's backend this kernel uses. */
interface RefCountedBackend {
  incRef(dataId: object): void;
}

// tfjs-backend-wasm's own Identity copies the tensor's bytes. Identity is what the engine runs for every tensor it
// saves for a backward pass (an op's saved inputs and outputs, a customGrad's `save`) and for `tf.clone`, so with
// it a recorded forward pass holds every saved activation twice in the wasm heap (400 MB of a two-layer
// Qwen2.5-0.5B step at 1,024 tokens). TensorFlow.js never writes into a tensor's data after making it, so the
// output can share the input's buffer, reference-counted by the backend: what the cpu backend's Identity does and
// what wasm's own Reshape already does. Values are the same; only the copy is gone.
export function sharingIdentity(stock: KernelFunc | null): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    // Strings live outside the heap in their own representation; the stock kernel handles them.
    if (x.dtype === 'string' && stock) return stock(args);
    (args.backend as unknown as RefCountedBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}
