// Generation at a real model's shapes: greedy decoding with the KV cache, batch 1, of a random-weight folder of a
// preset (default SmolLM2-135M), the 4-bit model (NF4 + double quantization on load: the fused 4-bit GEMV per
// token) beside the baseline (the same model dense float32 on tfjs-backend-wasm), each run in its own process so
// that each peak RSS is that run's alone. The two alternate, PEFT_BENCH_ROUNDS times each, and the median is kept,
// so load from other processes falls on both alike.
//
// Scale by environment: PEFT_BENCH_PRESET (smollm2-135m, qwen2.5-0.5b, tinyllama-1.1b, llama-3.2-1b),
// PEFT_BENCH_NEW_TOKENS (default 128), PEFT_BENCH_ROUNDS (default 3), PEFT_BENCH_QUANTIZE (nf4 or fp4, default nf4),
// PEFT_BENCH_THREADS (kernel threads, default auto).
import { fileURLToPath } from 'node:url';
import type { GenerateRunResult } from './generate-run.js';
import { type BenchCase, benchCase } from './harness.js';
import { runJsonChild, setting } from './json-child.js';
import { presetFolder } from './preset-folder.js';

const RUNNER = fileURLToPath(new URL('./generate-run.js', import.meta.url));

function runGeneration(args: string[]): Promise<GenerateRunResult> {
  return runJsonChild<GenerateRunResult>(RUNNER, args, 'generate-run');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function run(): Promise<BenchCase[]> {
  const preset = setting('PEFT_BENCH_PRESET', 'smollm2-135m');
  const newTokens = Number(setting('PEFT_BENCH_NEW_TOKENS', '128'));
  const rounds = Math.max(1, Number(setting('PEFT_BENCH_ROUNDS', '3')));
  const quantize = setting('PEFT_BENCH_QUANTIZE', 'nf4');
  const threads = setting('PEFT_BENCH_THREADS', 'auto');
  const model = await presetFolder(preset);
  const ours: GenerateRunResult[] = [];
  const dense: GenerateRunResult[] = [];
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`  round ${round + 1}/${rounds}: ${quantize}, dense...\n`);
    ours.push(await runGeneration([model, quantize, String(newTokens), threads]));
    dense.push(await runGeneration([model, 'none', String(newTokens), threads]));
  }
  const msPerToken = (runs: GenerateRunResult[]) => 1000 / median(runs.map((r) => r.tokensPerSecond));
  const summary = (runs: GenerateRunResult[]) => ({
    tokens_per_s: Math.round(median(runs.map((r) => r.tokensPerSecond)) * 10) / 10,
    tokens_per_s_each: runs.map((r) => Math.round(r.tokensPerSecond * 10) / 10),
    first_token_ms: Math.round(median(runs.map((r) => r.firstTokenMs))),
    peak_rss_bytes: Math.max(...runs.map((r) => r.peakRssBytes)),
  });
  return [
    benchCase({
      name: `generate ${preset} ${quantize} greedy, KV cache, batch 1 (ms per new token)`,
      shape: { batch: 1, prompt: 16, new_tokens: newTokens, rounds },
      ours_ms: msPerToken(ours),
      baseline_ms: msPerToken(dense),
      baseline: `the same generation with the dense float32 model (--quantize none) on tfjs-backend-wasm, ${preset}, in its own process`,
      goal: '>= 2x',
      extra: { ours: summary(ours), dense: summary(dense), kernel_threads: threads },
    }),
  ];
}
