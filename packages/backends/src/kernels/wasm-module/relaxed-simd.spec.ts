import { setFlagsFromString } from 'node:v8';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { bnb4Matmul, bnb4MatmulTransposed } from '../../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../../ops/bnb4-weights.js';
import { setupBackend } from '../../setup/setup-backend.js';
import { randomActivations } from '../../test-support/random.js';
import { THREAD_CASES, threadCaseWeight } from '../../test-support/thread-cases.js';
import type { WasmBackendLike } from '../backend-access.js';
import { kernelThreadStats } from '../wasm-threads/active-threads.js';
import { bnb4SimdBuild, relinkBnb4Simd } from './instance.js';
import { simdModuleBytes } from './module-bytes.js';

const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/** Every fixed-point product on the wasm backend: x·Wᵀ for 1 and 35 rows (threaded), dy·W for 3 rows. */
function products(): Float32Array[] {
  const outputs: Float32Array[] = [];
  for (const c of [THREAD_CASES[0]!, THREAD_CASES[2]!]) {
    const w = bnb4WeightsFromArrays(threadCaseWeight(c, 9));
    const x = tf.tensor2d(randomActivations(c.rows, c.inFeatures, 10), [c.rows, c.inFeatures]);
    const y = bnb4Matmul(x, w);
    outputs.push(y.dataSync() as Float32Array);
    tf.dispose([x, y]);
    disposeBnb4Weights(w);
  }
  // dy·W on the calling thread alone: on threads its chunk sums are added in whatever order threads finish.
  const small = { ...THREAD_CASES[0]!, outFeatures: 96, inFeatures: 256, rows: 3 };
  const w = bnb4WeightsFromArrays(threadCaseWeight(small, 11));
  const dy = tf.tensor2d(randomActivations(3, 96, 12), [3, 96]);
  const dx = bnb4MatmulTransposed(dy, w);
  outputs.push(dx.dataSync() as Float32Array);
  tf.dispose([dy, dx]);
  disposeBnb4Weights(w);
  return outputs;
}

async function threads(n: number): Promise<void> {
  await setupBackend('wasm', { kernelThreads: 1 }); // stop the workers, so that they start on the current build
  if (n > 1) await setupBackend('wasm', { kernelThreads: n });
}

// Node 20 has relaxed SIMD only behind a V8 flag, which this file sets at run time to get both builds in one
// process. Where an engine takes the relaxed build by default there is no plain run to compare with.
describe.skipIf(simdModuleBytes(false).build === 'relaxed')('the relaxed-SIMD build of the kernels', () => {
  afterAll(async () => {
    setFlagsFromString(`--no-${RELAXED_FLAG.slice(2)}`);
    relinkBnb4Simd();
    await threads(1);
  });

  it('is taken where the engine validates it, and computes bit for bit what the plain build does', async () => {
    await threads(2);
    const backend = () => tf.backend() as unknown as WasmBackendLike;
    expect(bnb4SimdBuild(backend())).toBe('plain');
    expect(kernelThreadStats().workerBuild).toBe('plain');
    const plain = products();

    setFlagsFromString(RELAXED_FLAG);
    relinkBnb4Simd();
    await threads(2);
    expect(bnb4SimdBuild(backend())).toBe('relaxed');
    expect(kernelThreadStats().workerBuild).toBe('relaxed');
    const relaxed = products();

    expect(relaxed.length).toBe(plain.length);
    relaxed.forEach((values, i) => {
      expect(Array.from(values), `product ${i}`).toEqual(Array.from(plain[i]!));
    });
  });
});
