// Runs in headless Chromium (see ../bnb4-linear.browser.spec.ts): quantizes in the page (the quantizer is
// browser-safe) and checks Bnb4Linear on WebGPU against dequantize + tf.matMul, forward and backward.
import { setupBackend } from '@peft/backends';
import * as tf from '@tensorflow/tfjs-core';
import { Bnb4Linear, dequantize4bitFloat32, quantize4bit } from '../index.js';

export interface BrowserCheck {
  name: string;
  worstRatio: number;
}

export interface BrowserReport {
  backend: string;
  checks: BrowserCheck[];
  leakedTensors: number;
}

function pseudoRandom(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 31 - 1) * scale;
  });
}

/** max |a - b| / (4e-6 * Σ|terms| + 1e-6) over the outputs: below 1 means within float32 summation error. */
function worstRatio(actual: Float32Array, expected: Float32Array, scale: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const ratio = Math.abs(actual[i]! - expected[i]!) / (4e-6 * scale[i]! + 1e-6);
    worst = Math.max(worst, Number.isNaN(ratio) ? Number.POSITIVE_INFINITY : ratio);
  }
  return worst;
}

function absProducts(a: Float32Array, rows: number, b: Float32Array, cols: number, K: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let m = 0; m < rows; m++) {
    for (let n = 0; n < cols; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.abs(a[m * K + k]! * b[n * K + k]!);
      out[m * cols + n] = s;
    }
  }
  return out;
}

export default async function run(): Promise<BrowserReport> {
  const { backend } = await setupBackend('webgpu');
  const checks: BrowserCheck[] = [];
  const before = tf.memory().numTensors;
  const layouts = [
    { quantType: 'nf4', blocksize: 64, doubleQuant: true, out: 48, inF: 128 },
    { quantType: 'fp4', blocksize: 128, doubleQuant: false, out: 33, inF: 96 },
  ] as const;
  for (const { out, inF, ...options } of layouts) {
    const tensor = quantize4bit(pseudoRandom(out * inF, out, 0.4), { ...options, shape: [out, inF] });
    const wHost = dequantize4bitFloat32(tensor);
    const layer = Bnb4Linear.fromTensor(tensor, pseudoRandom(out, 5));
    const xHost = pseudoRandom(2 * 3 * inF, 7);
    const dyHost = pseudoRandom(2 * 3 * out, 9);
    const x = tf.tensor3d(xHost, [2, 3, inF]);
    const dy = tf.tensor3d(dyHost, [2, 3, out]);
    const y = layer.forward(x);
    const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input), dy)))(x);
    const w = layer.dequantize();
    const bias = (await layer.bias!.data()) as Float32Array;
    const yExpected = new Float32Array(6 * out);
    const dxExpected = new Float32Array(6 * inF);
    for (let m = 0; m < 6; m++) {
      for (let n = 0; n < out; n++) {
        let s = 0;
        for (let k = 0; k < inF; k++) s += xHost[m * inF + k]! * wHost[n * inF + k]!;
        yExpected[m * out + n] = s + bias[n]!;
      }
      for (let k = 0; k < inF; k++) {
        let s = 0;
        for (let n = 0; n < out; n++) s += dyHost[m * out + n]! * wHost[n * inF + k]!;
        dxExpected[m * inF + k] = s;
      }
    }
    const wT = new Float32Array(inF * out);
    for (let n = 0; n < out; n++) for (let k = 0; k < inF; k++) wT[k * out + n] = wHost[n * inF + k]!;
    const label = `${options.quantType} blocksize ${options.blocksize} nested ${options.doubleQuant}`;
    checks.push({
      name: `${label}: dequantize`,
      worstRatio: worstRatio((await w.data()) as Float32Array, wHost, new Float32Array(wHost.length)),
    });
    checks.push({
      name: `${label}: forward`,
      worstRatio: worstRatio(
        (await y.data()) as Float32Array,
        yExpected,
        absProducts(xHost, 6, wHost, out, inF),
      ),
    });
    checks.push({
      name: `${label}: input gradient`,
      worstRatio: worstRatio(
        (await dx.data()) as Float32Array,
        dxExpected,
        absProducts(dyHost, 6, wT, inF, out),
      ),
    });
    tf.dispose([x, dy, y, dx, w]);
    layer.dispose();
  }
  return { backend, checks, leakedTensors: tf.memory().numTensors - before };
}
