// Throughput of the pure-TypeScript bitsandbytes quantizer and of its host dequantizer on one 4096x4096
// fp16 weight (a Llama-7B attention projection), NF4 with double quantization.
//
// Baselines, measured in the same run: for quantizing, casting the same float32 weight to float16 with
// @peft/core (the everyday per-element way to shrink a checkpoint); for dequantizing, a plain copy of
// the float32 output's size (the floor any dequantization pays: writing n floats).
import { fromFloat32 } from '@peft/core';
import { dequantize4bitFloat32, quantize4bit } from '@peft/quant-bnb4';
import { type BenchCase, benchCase, medianMs } from './harness.js';

const N = 4096;
const K = 4096;

export async function run(): Promise<BenchCase[]> {
  const n = N * K;
  let seed = 1;
  const values = Float32Array.from({ length: n }, () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return (seed / 2 ** 32 - 0.5) * 0.05;
  });
  const weight = fromFloat32(values, [N, K], 'F16');
  const timing = { warmup: 1, runs: 3 };
  const mparamsPerSecond = (ms: number) => Math.round(n / 1e3 / ms);

  const quantizeMs = medianMs(
    () => quantize4bit(weight, { quantType: 'nf4', blocksize: 64, doubleQuant: true }),
    timing,
  );
  const castMs = medianMs(() => fromFloat32(values, [N, K], 'F16'), timing);
  const q = quantize4bit(weight);
  const dequantizeMs = medianMs(() => dequantize4bitFloat32(q), timing);
  const target = new Float32Array(n);
  const copyMs = medianMs(() => target.set(values), timing);

  return [
    benchCase({
      name: 'bnb4 quantize (TypeScript, nf4 + double quant, fp16 input)',
      shape: { N, K },
      ours_ms: quantizeMs,
      baseline_ms: castMs,
      baseline: 'cast the same float32 weight to float16 (@peft/core fromFloat32)',
      extra: { mparams_per_s: mparamsPerSecond(quantizeMs), packed_bytes: q.packed.length },
    }),
    benchCase({
      name: 'bnb4 dequantize to float32 (TypeScript host path)',
      shape: { N, K },
      ours_ms: dequantizeMs,
      baseline_ms: copyMs,
      baseline: 'Float32Array.prototype.set of N*K floats (a plain copy of the output size)',
      extra: { mparams_per_s: mparamsPerSecond(dequantizeMs) },
    }),
  ];
}
