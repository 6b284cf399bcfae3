// Fine-tuning at a real model's shapes: tokens per second and peak memory of `peft finetune` on a random-weight
// folder of a preset (default SmolLM2-135M), our path (NF4 + double quantization on load, VeRA r256 on every
// linear layer, with and without activation checkpointing) beside the baseline (the same run on the dense
// float32 model), each in its own process so that each peak RSS is that run's alone.
//
// Scale by environment: PEFT_BENCH_PRESET (smollm2-135m, qwen2.5-0.5b, tinyllama-1.1b, llama-3.2-1b),
// PEFT_BENCH_MODEL (a model folder instead of the preset's random one, e.g. a `peft quantize`d 4-bit folder),
// PEFT_BENCH_BATCH (default 1), PEFT_BENCH_SEQ (default 64), PEFT_BENCH_STEPS (default 2), PEFT_BENCH_METHOD
// (vera or lora, default vera), PEFT_BENCH_R (default 256 for VeRA, 16 for LoRA), PEFT_BENCH_RUNS (which runs,
// comma-separated, default dense,nf4,nf4-checkpointed). Steps are few and slow at these sizes: the first step is
// counted too. The memory targets in docs/performance.md are these runs, e.g. Qwen2.5-0.5B LoRA r16 at 1 x 1024:
//   PEFT_BENCH_PRESET=qwen2.5-0.5b PEFT_BENCH_METHOD=lora PEFT_BENCH_SEQ=1024 PEFT_BENCH_STEPS=1 \
//   PEFT_BENCH_RUNS=nf4-checkpointed npx peft bench --only finetune-shapes
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FinetuneSummary } from '@peft/training/node';
import { type BenchCase, benchCase } from './harness.js';
import { runJsonChild, setting } from './json-child.js';
import { presetFolder } from './preset-folder.js';

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));

/** Rows long enough to fill `seqLen` tokens of the random tokenizer (about one token per character). */
async function trainingData(dir: string, rows: number, seqLen: number): Promise<string> {
  const path = join(dir, 'train.jsonl');
  const words = 'the quick brown fox jumps over the lazy dog while a small cat sleeps in the warm sun';
  const text = words.repeat(Math.ceil((seqLen * 2) / words.length));
  await writeFile(
    path,
    `${Array.from({ length: rows }, (_, i) => JSON.stringify({ text: `${i} ${text}` })).join('\n')}\n`,
  );
  return path;
}

function runFinetune(args: string[]): Promise<FinetuneSummary> {
  return runJsonChild<FinetuneSummary>(BIN, ['finetune', ...args, '--json'], 'peft');
}

export async function run(): Promise<BenchCase[]> {
  const preset = setting('PEFT_BENCH_PRESET', 'smollm2-135m');
  const batch = Number(setting('PEFT_BENCH_BATCH', '1'));
  const seqLen = Number(setting('PEFT_BENCH_SEQ', '64'));
  const steps = Number(setting('PEFT_BENCH_STEPS', '2'));
  const method = setting('PEFT_BENCH_METHOD', 'vera');
  const rank = setting('PEFT_BENCH_R', method === 'vera' ? '256' : '16');
  const runs = new Set(setting('PEFT_BENCH_RUNS', 'dense,nf4,nf4-checkpointed').split(','));
  const given = process.env['PEFT_BENCH_MODEL']?.trim();
  const model = given || (await presetFolder(preset));
  const name = given ? given.split(/[\\/]/).filter(Boolean).at(-1)! : preset;
  const work = await mkdtemp(join(tmpdir(), 'peft-bench-finetune-'));
  try {
    const data = await trainingData(work, Math.max(8, batch * steps), seqLen);
    const common = [
      model,
      '--data',
      data,
      '--method',
      method,
      '--r',
      rank,
      '--target-modules',
      'all-linear',
      '--steps',
      String(steps),
      '--batch-size',
      String(batch),
      '--seq-len',
      String(seqLen),
      '--save-every',
      '0',
      '--backend',
      'wasm',
    ];
    const measure = async (name: string, extra: string[]) => {
      process.stderr.write(`  ${name}...\n`);
      return runFinetune([...common, '-o', join(work, name), ...extra]);
    };
    // The baseline may not fit (a dense model's weights and their gradients' copies in wasm's 4 GiB): that
    // is a result too, reported as such.
    // A run not asked for is reported as skipped; one that fails (out of memory) is reported as failed.
    const skipped = (run: string) => new Error(`skipped (PEFT_BENCH_RUNS does not list ${run})`);
    const maybe = (run: string, extra: string[]) =>
      runs.has(run) ? measure(run, extra).catch((error: Error) => error) : Promise.resolve(skipped(run));
    const dense = await maybe('dense', ['--quantize', 'none']);
    const nf4 = await maybe('nf4', ['--quantize', 'nf4']);
    const nf4Checkpointed = await maybe('nf4-checkpointed', [
      '--quantize',
      'nf4',
      '--gradient-checkpointing',
    ]);
    const shape = { batch, seq_len: seqLen, steps };
    const msPerToken = (s: FinetuneSummary | Error) =>
      s instanceof Error ? Number.NaN : 1000 / s.tokensPerSecond;
    const memory = (s: FinetuneSummary | Error) =>
      s instanceof Error
        ? { failed: s.message.split('\n').slice(0, 3).join(' ').slice(0, 400) }
        : {
            tokens_per_s: Math.round(s.tokensPerSecond * 10) / 10,
            peak_rss_bytes: s.peakRssBytes,
            wasm_heap_bytes: s.wasmHeapBytes,
          };
    const baseline = `the same run on the dense float32 model (--quantize none), ${name}, in its own process`;
    return [nf4, nf4Checkpointed].map((ours, i) =>
      benchCase({
        name: `finetune ${name} ${method} r${rank} all-linear, nf4${i === 1 ? ' + gradient checkpointing' : ''} (ms per token)`,
        shape,
        ours_ms: msPerToken(ours),
        baseline_ms: msPerToken(dense),
        baseline,
        extra: { ours: memory(ours), dense: memory(dense) },
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
