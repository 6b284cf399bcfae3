import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { DEFAULT_DEMO_OPTIONS, type DemoReporter, runDemo } from '../demo/run-demo.js';

/** Prints to stdout; the progress bar goes to stderr when it is a terminal, else a line every 10%. */
function consoleReporter(): DemoReporter {
  let bar: SingleBar | null = null;
  let total = 0;
  return {
    line: (text) => process.stdout.write(`${text}\n`),
    progressStart(steps) {
      total = steps;
      if (process.stderr.isTTY) {
        bar = new SingleBar({
          format:
            'fine-tuning [{bar}] {value}/{total} steps | loss {loss} | {tps} tok/s | ETA {eta_formatted}',
          stream: process.stderr,
          hideCursor: true,
        });
        bar.start(steps, 0, { loss: '-', tps: '-' });
      } else {
        process.stdout.write(`fine-tuning for ${steps} steps\n`);
      }
    },
    progress(step, { loss, tokensPerSecond }) {
      if (bar) bar.update(step, { loss: loss.toFixed(3), tps: tokensPerSecond.toFixed(0) });
      else if (step === total || step % Math.max(1, Math.round(total / 10)) === 0) {
        process.stdout.write(
          `  step ${step}/${total}  loss ${loss.toFixed(3)}  ${tokensPerSecond.toFixed(0)} tok/s\n`,
        );
      }
    },
    progressStop() {
      bar?.stop();
      bar = null;
    },
  };
}

export function registerDemoCommand(program: Command): void {
  const d = DEFAULT_DEMO_OPTIONS;
  program
    .command('demo')
    .description(
      'The main job: quantize the embedded Llama to NF4 (double quant), attach VeRA to all linears, fine-tune it on held-out-checked data',
    )
    .option('--out <dir>', 'the PEFT adapter folder to write (replaced if it exists)', d.outDir)
    .option('--steps <n>', 'training steps', String(d.steps))
    .option('--batch-size <n>', 'sequences per step', String(d.batchSize))
    .option('--lr <rate>', 'peak learning rate (cosine schedule)', String(d.learningRate))
    .option('--r <rank>', 'VeRA rank', String(d.r))
    .option('--seed <n>', 'seed for the projections and the data order', String(d.seed))
    .option('--backend <name>', 'auto | wasm | cpu | webgpu', d.backend)
    .option('--model <dir>', 'base model folder (Hugging Face layout)', d.modelDir)
    .action(async (opts: Record<string, string>) => {
      await runDemo(
        {
          ...d,
          outDir: opts.out!,
          steps: Number(opts.steps),
          batchSize: Number(opts.batchSize),
          learningRate: Number(opts.lr),
          r: Number(opts.r),
          seed: Number(opts.seed),
          backend: opts.backend as typeof d.backend,
          modelDir: opts.model!,
        },
        consoleReporter(),
      );
    });
}
