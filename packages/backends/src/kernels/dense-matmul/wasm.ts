import { TAKES_TRANSPOSED_RIGHT } from '@peft/core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmPointer } from '../backend-access.js';
import { HeapScratch } from '../wasm-module/heap.js';
import { bnb4Simd } from '../wasm-module/instance.js';
import { activeKernelThreads } from '../wasm-threads/active-threads.js';
import { type HeapView, threadedDenseNN, threadedDenseNT } from '../wasm-threads/threaded-dense.js';

// TensorFlow.js' wasm BatchMatMul runs XNNPACK on one thread in Node, keeps a packed copy of every right operand
// for as long as that tensor lives (a frozen float32 weight is then held twice), and takes a scalar loop, 6-13x
// slower, for any transpose flag. Large 2-D products instead run the dense kernels of assembly/dense.ts: x·W and
// x·Wᵀ read both operands in place, on the kernel threads where they are running, and give the same bytes on any
// number of threads. Everything else (batched products, a transposed left operand, small or int32 products, one
// or two rows times a W that XNNPACK streams well) goes to the stock kernel.

/** Below this many multiply-adds the stock kernel's call is as cheap as ours. */
const MIN_MULTIPLY_ADDS = 1 << 15;

/** A product the dense kernels take: y [M, N] = a [M, K] · (transposed ? bᵀ : b). */
export interface DenseRoute {
  M: number;
  K: number;
  N: number;
  transposed: boolean;
}

/**
 * Whether the dense kernels take this BatchMatMul, decided by shapes, dtypes and flags alone (never by the thread
 * count: the same product must give the same bytes however many threads run).
 */
export function denseRoute(
  a: Pick<TensorInfo, 'shape' | 'dtype'>,
  b: Pick<TensorInfo, 'shape' | 'dtype'>,
  transposeA: boolean,
  transposeB: boolean,
): DenseRoute | null {
  if (a.shape.length !== 2 || b.shape.length !== 2 || transposeA) return null;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const [M, K] = a.shape as [number, number];
  const N = transposeB ? b.shape[0]! : b.shape[1]!;
  if ((transposeB ? b.shape[1] : b.shape[0]) !== K || K === 0 || M * K * N < MIN_MULTIPLY_ADDS) return null;
  // x·W with few rows or few columns: XNNPACK's own loops are as fast or faster there (measured at 1-2 rows with a
  // 113 MB W, and at 1 column), and the stock kernel takes it without a flag.
  if (!transposeB && (M < 4 || N < 16)) return null;
  return { M, K, N, transposed: transposeB };
}

export function denseBatchMatMul(stock: KernelFunc | null): KernelFunc {
  const kernel: KernelFunc = (args) => {
    const a = args.inputs['a'] as TensorInfo;
    const b = args.inputs['b'] as TensorInfo;
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    const route = denseRoute(a, b, attrs.transposeA === true, attrs.transposeB === true);
    const backend = args.backend as unknown as WasmBackendLike;
    const simd = route ? bnb4Simd(backend) : null;
    if (!route || !simd) {
      if (!stock) throw new Error('tfjs-backend-wasm has no BatchMatMul kernel registered');
      return stock(args);
    }
    const { M, K, N, transposed } = route;
    const out = backend.makeOutput([M, N], 'float32');
    const operands = {
      x: wasmPointer(backend, a),
      w: wasmPointer(backend, b),
      y: wasmPointer(backend, out),
      M,
      K,
      N,
    };
    const scratch = new HeapScratch(backend); // only its fresh heap views: this kernel allocates nothing there
    const heap: HeapView = (pointer, length) => scratch.f32(pointer, length);
    const threads = activeKernelThreads();
    if (transposed) {
      if (!threads || !threadedDenseNT(threads, simd, heap, operands))
        simd.denseNT(operands.x, operands.w, operands.y, M, K, N, 0, N);
    } else if (!threads || !threadedDenseNN(threads, simd, heap, operands)) {
      simd.denseNN(operands.x, K, operands.w, operands.y, M, K, N, 0, N, 0);
    }
    return out;
  };
  // Tells @peft/core's matmul helpers (and the models' output head) that a 2-D x·Wᵀ needs no transposed copy of W
  // here: true wherever the kernels' module links to the active backend's heap. Where it cannot (TensorFlow.js'
  // multi-threaded wasm build, whose heap is shared memory), a flagged product would fall to the stock kernel's
  // scalar loop, so the helpers transpose instead.
  Object.defineProperty(kernel, TAKES_TRANSPOSED_RIGHT, {
    get: () => {
      const active = tf.backend() as unknown as Partial<WasmBackendLike>;
      return active.wasm !== undefined && bnb4Simd(active as WasmBackendLike) !== null;
    },
  });
  return kernel;
}
