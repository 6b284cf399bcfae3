import { availableParallelism } from 'node:os';
import {
  BNB4_EXACT_FLAG,
  bnb4Matmul,
  bnb4MatmulTransposed,
  disposeBnb4Weights,
  kernelThreadStats,
  setupBackend,
} from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';
import { type BenchCase, benchCase } from './harness.js';
import { timeOp } from './matmul-timing.js';
import { onnxMatMulNBits } from './onnx-peer.js';
import { randomNf4Weights } from './random-bnb4.js';

const K = 4096;

/**
 * x·Wᵀ through the fused 4-bit kernel (NF4, double quantization, blocksize 64) on the TensorFlow.js wasm backend,
 * against fp32 `tf.matMul(x, wT)` with W stored pre-transposed [K, N] (XNNPACK's fast path, no transpose flag).
 * Also dy·W (the gradient path) against `tf.matMul(dy, W)` with W [N, K] (again no transpose flag).
 */
export async function run(): Promise<BenchCase[]> {
  await setupBackend('wasm');
  const cores = availableParallelism();
  const cases: BenchCase[] = [];
  for (const N of [4096, 11008]) {
    const w = randomNf4Weights(N, K);
    const wT = tf.randomNormal([K, N]) as tf.Tensor2D;
    for (const M of [1, 16, 256]) {
      const x = tf.randomNormal([M, K]) as tf.Tensor2D;
      // tfjs' wasm backend runs one thread in Node (its threaded build is browser-only), so the baseline is one
      // thread either way; ours is timed on one thread and on every core (setupBackend's kernelThreads).
      const single = timeOp(() => bnb4Matmul(x, w), M, N);
      const baseline = timeOp(() => tf.matMul(x, wT), M, N);
      const extra: Record<string, unknown> = { backend: 'wasm', weight: 'nf4, double-quant, blocksize 64' };
      if (M <= 16) {
        tf.env().set(BNB4_EXACT_FLAG, true);
        extra['exact_float32_kernel_ms'] = Math.round(timeOp(() => bnb4Matmul(x, w), M, N) * 1000) / 1000;
        tf.env().set(BNB4_EXACT_FLAG, false);
      }
      const peer = await onnxMatMulNBits(M, N, K);
      if (peer) extra['onnxruntime_matmulnbits_ms'] = peer;
      const goal = M === 256 ? '>= 1x (no slower than fp32)' : '>= 3x';
      const common = {
        shape: { M, K, N },
        baseline: 'tfjs wasm fp32 tf.matMul(x, wT), wT pre-transposed [K, N], one thread',
        goal,
      };
      cases.push(
        benchCase({
          ...common,
          name: 'bnb4Matmul',
          ours_ms: single,
          baseline_ms: baseline,
          extra: { ...extra, threads: 1 },
        }),
      );
      if (cores > 1) {
        await setupBackend('wasm', { kernelThreads: cores });
        const threaded = timeOp(() => bnb4Matmul(x, w), M, N);
        const baselineAgain = timeOp(() => tf.matMul(x, wT), M, N);
        extra['mirrored_weight_bytes'] = kernelThreadStats().mirroredBytes;
        await setupBackend('wasm');
        delete extra['onnxruntime_matmulnbits_ms'];
        const threadedPeer = await onnxMatMulNBits(M, N, K, cores);
        if (threadedPeer) extra['onnxruntime_matmulnbits_ms'] = threadedPeer;
        cases.push(
          benchCase({
            ...common,
            name: `bnb4Matmul, kernelThreads ${cores}`,
            ours_ms: threaded,
            baseline_ms: baselineAgain,
            extra: { ...extra, threads: cores },
          }),
        );
      }
      x.dispose();
    }
    wT.dispose();
    if (N === 4096) {
      const wDense = tf.randomNormal([N, K]) as tf.Tensor2D;
      for (const M of [1, 16, 256]) {
        const dy = tf.randomNormal([M, N]) as tf.Tensor2D;
        cases.push(
          benchCase({
            name: 'bnb4MatmulTransposed',
            shape: { M, K, N },
            ours_ms: timeOp(() => bnb4MatmulTransposed(dy, w), M, K),
            baseline_ms: timeOp(() => tf.matMul(dy, wDense), M, K),
            baseline: 'tfjs wasm fp32 tf.matMul(dy, W), W [N, K], one thread',
            extra: { backend: 'wasm', threads: 1 },
          }),
        );
        if (cores > 1) {
          await setupBackend('wasm', { kernelThreads: cores });
          const threaded = timeOp(() => bnb4MatmulTransposed(dy, w), M, K);
          const baselineAgain = timeOp(() => tf.matMul(dy, wDense), M, K);
          await setupBackend('wasm');
          cases.push(
            benchCase({
              name: `bnb4MatmulTransposed, kernelThreads ${cores}`,
              shape: { M, K, N },
              ours_ms: threaded,
              baseline_ms: baselineAgain,
              baseline: 'tfjs wasm fp32 tf.matMul(dy, W), W [N, K], one thread',
              extra: { backend: 'wasm', threads: cores },
            }),
          );
        }
        dy.dispose();
      }
      wDense.dispose();
    }
    disposeBnb4Weights(w);
  }
  return cases;
}
