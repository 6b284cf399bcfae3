// One generation measurement in a process of its own (spawned by generate-shapes.ts, so that each peak RSS is one
// model's alone): loads a model folder (optionally quantized on load), generates greedily from a fixed prompt with
// the KV cache, and prints one JSON line. Run as: node generate-run.js <model-dir> <none|nf4|fp4> <new-tokens>
// <kernel-threads|auto>.
import '../cli/builtins.js';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@peft/models';
import { ensureBackend, loadModelFolder } from '@peft/training/node';

/** What one run reports; generate-shapes.ts reads it. */
export interface GenerateRunResult {
  quantize: string;
  newTokens: number;
  /** New tokens per second of the timed generation (prompt prefill included, as a user waits for it). */
  tokensPerSecond: number;
  /** Milliseconds of the prompt's forward pass and first token. */
  firstTokenMs: number;
  /** Peak resident set size of the whole process (load included). */
  peakRssBytes: number;
}

/** A fixed 16-token prompt of ids inside the vocabulary. */
function prompt(vocabSize: number): number[] {
  return Array.from({ length: 16 }, (_, i) => (10 + 7 * i) % vocabSize);
}

export async function measureGeneration(
  model: string,
  quantize: string,
  newTokens: number,
  kernelThreads: number | 'auto',
): Promise<GenerateRunResult> {
  await ensureBackend({ backend: 'wasm', kernelThreads });
  const base = await loadModelFolder(model, { quantize });
  try {
    base.model.eval();
    const PROMPT = prompt(base.config.vocabSize);
    // Untimed: the first call packs the dense matmul's weights (XNNPACK) and warms the kernels.
    await generate(base.model, PROMPT, { maxNewTokens: 2, eosTokenId: [] });
    const first = performance.now();
    await generate(base.model, PROMPT, { maxNewTokens: 1, eosTokenId: [] });
    const firstTokenMs = performance.now() - first;
    // No end-of-sequence token: every run produces exactly `newTokens` (random weights may emit eos early).
    const start = performance.now();
    const { tokens } = await generate(base.model, PROMPT, { maxNewTokens: newTokens, eosTokenId: [] });
    const seconds = (performance.now() - start) / 1000;
    return {
      quantize,
      newTokens: tokens[0]!.length,
      tokensPerSecond: tokens[0]!.length / seconds,
      firstTokenMs,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    base.model.dispose();
  }
}

const [, script, modelDir, quantize, newTokens, threads] = process.argv;
// Runs only as a process's entry point, not when imported.
if (script && resolve(script) === fileURLToPath(import.meta.url) && modelDir) {
  const result = await measureGeneration(
    modelDir,
    quantize ?? 'none',
    Number(newTokens ?? 128),
    threads === undefined || threads === 'auto' ? 'auto' : Number(threads),
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
