import { type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmPointer } from '../backend-access.js';
import { bnb4Simd } from '../wasm-module/instance.js';

// tfjs-backend-wasm's Sum over leading axes first transposes the input (a full copy) so that the reduced axes
// come last, then sums each output's run. The gradient of every broadcast multiply or add (a bias, VeRA's scaling
// vectors, a norm's weight) is such a sum over the tokens: [tokens, features] -> [features], 0.5-1.5 s of a
// SmolLM2-135M training step. This sums the rows of the input as it lies, row after row: each output the sum in
// increasing row order from zero, the order the stock kernel's loop over the transposed copy uses (a test compares
// the two bit for bit).

/** A Sum over the leading axes [0, reduced) of its input, seen as R rows of C columns. */
export interface LeadingAxesSum {
  reduced: number;
  R: number;
  C: number;
}

/** The Sum as rows and columns when it reduces exactly the leading axes of a non-empty input, else null. */
export function leadingAxesSum(shape: readonly number[], axis: number | number[]): LeadingAxesSum | null {
  const rank = shape.length;
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort(
    (a, b) => a - b,
  );
  if (rank < 2 || axes.length === 0 || axes.length >= rank || axes.some((a, i) => a !== i)) return null;
  const R = util.sizeFromShape(shape.slice(0, axes.length) as number[]);
  const C = util.sizeFromShape(shape.slice(axes.length) as number[]);
  return R * C === 0 ? null : { reduced: axes.length, R, C };
}

export function columnSum(stock: KernelFunc | null): KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const plan = x.dtype === 'float32' ? leadingAxesSum(x.shape, axis) : null;
    const backend = args.backend as unknown as WasmBackendLike;
    const simd = plan ? bnb4Simd(backend) : null;
    if (!plan || !simd) {
      if (!stock) throw new Error('tfjs-backend-wasm has no Sum kernel registered');
      return stock(args);
    }
    const kept = x.shape.slice(plan.reduced);
    const out = backend.makeOutput(
      keepDims ? [...new Array<number>(plan.reduced).fill(1), ...kept] : kept,
      'float32',
    );
    simd.columnSums(wasmPointer(backend, x), plan.R, plan.C, wasmPointer(backend, out));
    return out;
  };
}
