// Runs in headless Chromium (see ../kernels.browser.spec.ts): every kernel of this package on webgpu (SwiftShader)
// and wasm, against the typed-array references, forward and backward. Returns one line per check.
import * as tf from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../kernels/backend-access.js';
import { bnb4DequantizeImpl } from '../kernels/bnb4-dequantize/reference.js';
import { bnb4MatmulImpl } from '../kernels/bnb4-matmul/reference.js';
import { bnb4MatmulTransposedImpl } from '../kernels/bnb4-matmul-transposed/reference.js';
import { type Bnb4Arrays, blockCount, blockScaleImpl } from '../kernels/bnb4-shared/arrays.js';
import { rmsNormImpl } from '../kernels/rms-norm/reference.js';
import { rmsNormGradImpl } from '../kernels/rms-norm-grad/reference.js';
import { bnb4Simd, bnb4SimdBuild } from '../kernels/wasm-module/instance.js';
import { bnb4Dequantize, bnb4Linear, bnb4Matmul } from '../ops/bnb4.js';
import { bnb4WeightsFromArrays, disposeBnb4Weights } from '../ops/bnb4-weights.js';
import { rmsNorm } from '../ops/rms-norm.js';
import { type BackendName, setupBackend } from '../setup/setup-backend.js';
import { FP4_CODE, randomActivations, randomBnb4Arrays } from './random.js';
import { countMismatches, worstToleranceRatio } from './ratio.js';
import {
  fixed16Tolerance,
  fixed16TransposedTolerance,
  float32Tolerance,
  float32TransposedTolerance,
} from './tolerances.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface BackendReport {
  backend: string;
  reason: string;
  simdModule: boolean | null;
  /** Which build of the module runs on wasm ('relaxed' where the engine has relaxed SIMD). */
  simdBuild: string | null;
  checks: Check[];
}

const SHAPES = [
  { rows: 1, outFeatures: 3, inFeatures: 64, blocksize: 64, nested: false },
  { rows: 1, outFeatures: 16, inFeatures: 128, blocksize: 64, nested: true },
  { rows: 5, outFeatures: 7, inFeatures: 128, blocksize: 128, nested: true },
  { rows: 9, outFeatures: 5, inFeatures: 256, blocksize: 4096, nested: true },
  { rows: 3, outFeatures: 9, inFeatures: 200, blocksize: 64, nested: true },
  { rows: 1, outFeatures: 5, inFeatures: 33, blocksize: 32, nested: false, fp4: true },
  ...[32, 64, 128, 256, 512, 1024, 2048, 4096].map((blocksize) => ({
    rows: 2,
    outFeatures: 5,
    inFeatures: 50,
    blocksize,
    nested: blocksize >= 256,
  })),
  ...[32, 256, 4096].map((blocksize) => ({
    rows: 2,
    outFeatures: 4,
    inFeatures: 128,
    blocksize,
    nested: blocksize === 256,
  })),
];

function scalesOf(w: Bnb4Arrays): Float32Array {
  return Float32Array.from({ length: blockCount(w) }, (_, b) => blockScaleImpl(w, b));
}

function relativeTolerance(expected: Float32Array): Float32Array {
  const rms = Math.sqrt(expected.reduce((s, v) => s + v * v, 0) / Math.max(1, expected.length));
  return expected.map((e) => 2e-5 * (Math.abs(e) + rms));
}

async function values(t: tf.Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

async function bnb4Checks(backend: BackendName): Promise<Check[]> {
  const checks: Check[] = [];
  for (const shape of SHAPES) {
    const label = JSON.stringify(shape);
    const arrays = randomBnb4Arrays({
      ...shape,
      code: 'fp4' in shape ? FP4_CODE : undefined,
      seed: shape.inFeatures + shape.blocksize,
    });
    const w = bnb4WeightsFromArrays(arrays);
    const x = randomActivations(shape.rows, shape.inFeatures, shape.outFeatures);
    const dy = randomActivations(shape.rows, shape.outFeatures, shape.inFeatures);
    const xt = tf.tensor2d(x, [shape.rows, shape.inFeatures]);
    const dyt = tf.tensor2d(dy, [shape.rows, shape.outFeatures]);

    const dq = bnb4Dequantize(w);
    const mismatches = countMismatches(await values(dq), bnb4DequantizeImpl(arrays));
    checks.push({
      name: `dequantize ${label}`,
      ok: mismatches === 0,
      detail: `${mismatches} elements differ from the reference`,
    });

    const y = bnb4Matmul(xt, w);
    const fixed = backend === 'wasm' && shape.inFeatures % 64 === 0 && shape.blocksize >= 64;
    const yTol = fixed
      ? fixed16Tolerance(x, shape.rows, arrays, scalesOf(arrays))
      : float32Tolerance(x, shape.rows, arrays);
    const yRatio = worstToleranceRatio(await values(y), bnb4MatmulImpl(x, shape.rows, arrays), yTol);
    checks.push({
      name: `matmul ${label}`,
      ok: yRatio <= 1,
      detail: `worst error ${yRatio.toFixed(3)}x the tolerance`,
    });

    // The transposed kernel through the gradient of bnb4Linear: d/dx sum(bnb4Linear(x) * dy) = dy·W.
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(bnb4Linear(input as tf.Tensor2D, w), dyt)))(xt);
    const dxRatio = worstToleranceRatio(
      await values(dx),
      bnb4MatmulTransposedImpl(dy, shape.rows, arrays),
      fixed
        ? fixed16TransposedTolerance(dy, shape.rows, arrays)
        : float32TransposedTolerance(dy, shape.rows, arrays),
    );
    checks.push({
      name: `gradient (dy·W) ${label}`,
      ok: dxRatio <= 1,
      detail: `worst error ${dxRatio.toFixed(3)}x the tolerance`,
    });
    tf.dispose([xt, dyt, dq, y, dx]);
    disposeBnb4Weights(w);
  }
  return checks;
}

async function rmsNormChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  for (const [rows, D] of [
    [1, 8],
    [6, 64],
    [3, 33],
  ] as const) {
    const xv = randomActivations(rows, D, D);
    const wv = randomActivations(1, D, D + 1);
    const up = randomActivations(rows, D, D + 2);
    const x = tf.tensor2d(xv, [rows, D]);
    const w = tf.tensor1d(wv);
    const upstream = tf.tensor2d(up, [rows, D]);
    const y = rmsNorm(x, w, 1e-6);
    const ry = new Float32Array(rows * D);
    rmsNormImpl(xv, wv, rows, D, 1e-6, ry);
    const yRatio = worstToleranceRatio(await values(y), ry, relativeTolerance(ry));
    checks.push({
      name: `rmsNorm forward [${rows}, ${D}]`,
      ok: yRatio <= 1,
      detail: `worst error ${yRatio.toFixed(3)}x the tolerance`,
    });
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(rmsNorm(a, b as tf.Tensor1D, 1e-6), upstream)),
    )([x, w]);
    const rdx = new Float32Array(rows * D);
    const rdw = new Float32Array(D);
    rmsNormGradImpl(up, xv, wv, rows, D, 1e-6, rdx, rdw);
    const dxRatio = worstToleranceRatio(await values(dx!), rdx, relativeTolerance(rdx));
    const dwRatio = worstToleranceRatio(await values(dw!), rdw, relativeTolerance(rdw));
    checks.push({
      name: `rmsNorm dx [${rows}, ${D}]`,
      ok: dxRatio <= 1,
      detail: `worst error ${dxRatio.toFixed(3)}x the tolerance`,
    });
    checks.push({
      name: `rmsNorm dweight [${rows}, ${D}]`,
      ok: dwRatio <= 1,
      detail: `worst error ${dwRatio.toFixed(3)}x the tolerance`,
    });
    tf.dispose([x, w, upstream, y, dx!, dw!]);
  }
  return checks;
}

export default async function run(): Promise<BackendReport[]> {
  const reports: BackendReport[] = [];
  for (const backend of ['webgpu', 'wasm'] as const) {
    const { reason } = await setupBackend(backend, { wasmPaths: '/tfjs-wasm/' });
    const before = tf.memory().numTensors;
    const checks = [...(await bnb4Checks(backend)), ...(await rmsNormChecks())];
    const leaked = tf.memory().numTensors - before;
    checks.push({ name: 'no tensors leaked', ok: leaked === 0, detail: `${leaked} tensors left behind` });
    const wasmBackend = tf.backend() as unknown as WasmBackendLike;
    const simdModule = backend === 'wasm' ? bnb4Simd(wasmBackend) !== null : null;
    const simdBuild = backend === 'wasm' ? bnb4SimdBuild(wasmBackend) : null;
    reports.push({ backend, reason, simdModule, simdBuild, checks });
  }
  return reports;
}
