import { availableParallelism } from 'node:os';
import { setupBackend } from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';
import { type BenchCase, benchCase } from './harness.js';
import { timeOp } from './matmul-timing.js';

// The dense float32 products of a training step at real shapes (SmolLM2-135M, batch 4 x 256: VeRA r256's
// projections, the tied head and its gradient over one loss chunk), on @peft/backends' dense kernels against
// tfjs-backend-wasm's own BatchMatMul (XNNPACK, one thread) on the same inputs. The baseline gets its fast path:
// the right operand pre-transposed, no transpose flag (with a flag the stock kernel takes a scalar loop).

interface Product {
  name: string;
  M: number;
  K: number;
  N: number;
  /** The model multiplies by Wᵀ ([N, K] as stored); else by W [K, N]. */
  transposed: boolean;
}

const PRODUCTS: Product[] = [
  { name: 'VeRA x·A_sᵀ (q, k, v, o, gate, up)', M: 1024, K: 576, N: 256, transposed: false },
  { name: 'VeRA h·B_sᵀ (gate, up)', M: 1024, K: 256, N: 1536, transposed: false },
  { name: 'VeRA input gradient dh·A_s', M: 1024, K: 256, N: 576, transposed: false },
  { name: 'tied head logits x·Eᵀ (one loss chunk)', M: 341, K: 576, N: 49152, transposed: true },
  { name: 'tied head gradient dy·E (one 8,192-row slice)', M: 341, K: 8192, N: 576, transposed: false },
];

function operands(p: Product): { x: tf.Tensor2D; w: tf.Tensor2D; wT: tf.Tensor2D } {
  const x = tf.randomUniform([p.M, p.K], -1, 1, 'float32', 1) as tf.Tensor2D;
  const w = tf.randomUniform(p.transposed ? [p.N, p.K] : [p.K, p.N], -1, 1, 'float32', 2) as tf.Tensor2D;
  const wT = p.transposed ? (tf.transpose(w) as tf.Tensor2D) : w;
  return { x, w, wT };
}

function time(p: Product, x: tf.Tensor2D, w: tf.Tensor2D): number {
  return timeOp(() => tf.matMul(x, w, false, p.transposed), p.M, p.N);
}

export async function run(): Promise<BenchCase[]> {
  const cores = availableParallelism();
  const baseline = new Map<string, number>();
  // The stock kernel first: the replacements are registered again below.
  await setupBackend('wasm', { stockWasmKernels: true });
  for (const p of PRODUCTS) {
    const { x, w, wT } = operands(p);
    baseline.set(
      p.name,
      timeOp(() => tf.matMul(x, wT), p.M, p.N),
    );
    tf.dispose([x, w, wT]);
  }
  const cases: BenchCase[] = [];
  for (const threads of [1, cores]) {
    if (threads === 1 && cores === 1 && cases.length > 0) break;
    await setupBackend('wasm', { kernelThreads: threads });
    for (const p of PRODUCTS) {
      const { x, w, wT } = operands(p);
      const ours = time(p, x, w);
      tf.dispose(p.transposed ? [x, w, wT] : [x, w]);
      cases.push(
        benchCase({
          name: `dense ${p.transposed ? 'x·Wᵀ' : 'x·W'}: ${p.name}`,
          shape: { M: p.M, K: p.K, N: p.N, threads },
          ours_ms: ours,
          baseline_ms: baseline.get(p.name)!,
          baseline:
            "tfjs-backend-wasm's own BatchMatMul (XNNPACK, one thread) on x·W, W [K, N] (pre-transposed where the model has Wᵀ)",
          extra: { gflops: Math.round(((2 * p.M * p.K * p.N) / (ours * 1e6)) * 10) / 10 },
        }),
      );
    }
  }
  await setupBackend('wasm', { kernelThreads: 1 });
  return cases;
}
