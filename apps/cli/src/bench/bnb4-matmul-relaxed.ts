import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bnb4Matmul, disposeBnb4Weights, setupBackend } from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';
import type { BenchCase } from './harness.js';
import { benchCase } from './harness.js';
import { timeOp } from './matmul-timing.js';
import { randomNf4Weights } from './random-bnb4.js';

// The 4-bit x·Wᵀ as engines with relaxed SIMD run it (Chrome, Node >= 22: the kernels' relaxed build, one pshufb
// per table lookup). Node 20 has relaxed SIMD only behind a V8 flag, so there this suite runs itself again in a
// child Node started with --experimental-wasm-relaxed-simd and reports that child's cases.

const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
const K = 4096;

/** A one-function module using i8x16.relaxed_swizzle: valid only where the engine has relaxed SIMD. */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 123, 123, 1, 123, 3, 2, 1, 0, 10, 11, 1, 9, 0, 32, 0, 32, 1,
  0xfd, 0x80, 0x02, 11,
]);

async function inChild(): Promise<BenchCase[]> {
  const dir = await mkdtemp(join(tmpdir(), 'peft-bench-relaxed-'));
  try {
    const report = join(dir, 'report.json');
    const bin = process.argv[1]!;
    await promisify(execFile)(
      process.execPath,
      [RELAXED_FLAG, bin, 'bench', '--only', 'bnb4-matmul-relaxed', '--json', report],
      { maxBuffer: 1 << 24 },
    );
    return (JSON.parse(await readFile(report, 'utf8')) as { cases: BenchCase[] }).cases;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchCase[]> {
  if (!WebAssembly.validate(RELAXED_PROBE)) return inChild();
  await setupBackend('wasm');
  const cores = availableParallelism();
  const cases: BenchCase[] = [];
  for (const N of [4096, 11008]) {
    const w = randomNf4Weights(N, K);
    const wT = tf.randomNormal([K, N]) as tf.Tensor2D;
    for (const M of [1, 16]) {
      const x = tf.randomNormal([M, K]) as tf.Tensor2D;
      for (const threads of cores > 1 ? [1, cores] : [1]) {
        await setupBackend('wasm', { kernelThreads: threads });
        const ours = timeOp(() => bnb4Matmul(x, w), M, N);
        const baseline = timeOp(() => tf.matMul(x, wT), M, N);
        cases.push(
          benchCase({
            name: `bnb4Matmul, relaxed SIMD${threads > 1 ? `, kernelThreads ${threads}` : ''}`,
            shape: { M, K, N },
            ours_ms: ours,
            baseline_ms: baseline,
            baseline: 'tfjs wasm fp32 tf.matMul(x, wT), wT pre-transposed [K, N], one thread',
            goal: '>= 3x',
            extra: {
              backend: 'wasm',
              threads,
              node: process.version,
              engine_flags: process.execArgv.filter((a) => a.startsWith('--')),
            },
          }),
        );
      }
      x.dispose();
    }
    wT.dispose();
    disposeBnb4Weights(w);
  }
  await setupBackend('wasm');
  return cases;
}
