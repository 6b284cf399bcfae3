// The guides' `$ npx peft ...` examples are re-run here, on stand-ins of the files they name (a random-weight
// model of stories260K's exact config, the configs of Llama-2-7B and Llama-3.2-1B-Instruct-bnb-4bit), and every
// line they show that depends only on shapes and options (counts, sizes, estimates, what was written) must be
// what the command prints today. Lines that depend on trained weights, time or the machine (losses, tokens/s,
// the backend line) are not compared.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomModel } from '@peft/models/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPeft } from '../commands/test-support/checkpoints.js';
import { useBackendForTests } from '../test-support/model-folder.js';
import { commandsOfGuides, type DocumentedCommand } from './documented-commands.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** stories260K's config.json (karpathy's TinyStories Llama in Hugging Face layout): the guides' running example. */
const STORIES_260K = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 8,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'float32',
};

/** Paths the guides use that this test provides; a command naming any other model is not run. */
const PROVIDED_MODELS = [
  'models/stories260K',
  'llama-2-7b/config.json',
  'models/Llama-3.2-1B-Instruct-bnb-4bit',
];

/** Shown lines that depend on trained weights, elapsed time or the machine: not compared. */
const NOT_COMPARED = [
  /^\s*$/,
  /^\s*\.\.\.\s*$/,
  /loss|perplexity|tok\/s|ETA/,
  /^backend:/,
  /^step /,
  /checkpoint/,
  /^trained /,
  /^training \d+ steps/,
];

/** Subcommands whose whole output depends on the weights. */
const WEIGHT_DEPENDENT_OUTPUT = new Set(['generate']);

function compared(command: DocumentedCommand): string[] {
  if (WEIGHT_DEPENDENT_OUTPUT.has(command.argv[2]!)) return [];
  return command.shown.filter((line) => !NOT_COMPARED.some((pattern) => pattern.test(line)));
}

/** A long run in the guide is shortened: the compared lines do not depend on the step count. */
function shortened(argv: string[]): string[] {
  const args = argv.slice(2);
  const steps = args.indexOf('--steps');
  if (steps >= 0) args[steps + 1] = '2';
  return args;
}

function runnable(command: DocumentedCommand): boolean {
  const [program, sub, , model] = command.argv;
  if (program === 'cat') return true;
  return program === 'npx' && sub === 'peft' && PROVIDED_MODELS.includes(model ?? '');
}

async function workspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'peft-docs-'));
  await writeRandomModel(join(dir, 'models', 'stories260K'), STORIES_260K, { seed: 0, dtype: 'float32' });
  await cp(join(FIXTURES, 'llama-2-7b'), join(dir, 'llama-2-7b'), { recursive: true });
  await mkdir(join(dir, 'models'), { recursive: true });
  await cp(
    join(FIXTURES, 'Llama-3.2-1B-Instruct-bnb-4bit'),
    join(dir, 'models', 'Llama-3.2-1B-Instruct-bnb-4bit'),
    {
      recursive: true,
    },
  );
  const rows = (n: number) =>
    Array.from({ length: n }, (_, i) => JSON.stringify({ text: `Once upon a time, story ${i} began.` })).join(
      '\n',
    );
  await writeFile(join(dir, 'train.jsonl'), `${rows(24)}\n`);
  await writeFile(join(dir, 'eval.jsonl'), `${rows(8)}\n`);
  return dir;
}

async function run(command: DocumentedCommand, dir: string): Promise<string> {
  if (command.argv[0] === 'cat') {
    // The guide shows the file's content: that is the file the next commands read.
    await writeFile(join(dir, command.argv[1]!), `${command.shown.join('\n')}\n`);
    return command.shown.join('\n');
  }
  const before = process.cwd();
  process.chdir(dir);
  try {
    const result = await runPeft(...shortened(command.argv));
    expect(result.code, `${command.where}: ${command.argv.join(' ')}\n${result.stderr}`).toBe(0);
    if (command.jqField !== undefined) return String(JSON.parse(result.stdout)[command.jqField]);
    return `${result.stdout}\n${result.stderr}`;
  } finally {
    process.chdir(before);
  }
}

function printed(output: string, line: string): boolean {
  const lines = output.split(/\r?\n|\r/).map((l) => l.trimEnd());
  const wanted = line.trimEnd();
  // "...: llama, 16 layers" stands for a path the guide leaves out.
  if (wanted.startsWith('...')) return lines.some((l) => l.endsWith(wanted.slice(3)));
  return lines.includes(wanted);
}

const guides = commandsOfGuides(REPO_ROOT);

beforeAll(useBackendForTests);

describe('documented CLI output', () => {
  it('finds the examples: commands the guides show with their output are run here', () => {
    const runs = [...guides.values()].flat().filter((c) => runnable(c) && compared(c).length > 0);
    // cli.md: plan x2, init-adapter, finetune, merge; fine-tuning.md: plan and the measured finetune run.
    expect(runs.length).toBeGreaterThanOrEqual(7);
  });

  for (const [file, commands] of guides) {
    describe(file, () => {
      let dir: string;
      beforeAll(async () => {
        dir = await workspace();
      });
      afterAll(async () => {
        await rm(dir, { recursive: true, force: true });
      });
      for (const command of commands.filter(runnable)) {
        it(`${command.where}: ${command.argv.slice(1, 4).join(' ')}`, async () => {
          const output = await run(command, dir);
          const missing = compared(command).filter((line) => !printed(output, line));
          expect(missing, `${command.where} shows lines the command no longer prints:\n${output}`).toEqual(
            [],
          );
        });
      }
    });
  }
});
