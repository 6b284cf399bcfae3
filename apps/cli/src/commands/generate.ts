import { generateText } from '@peft/training/node';
import type { Command } from 'commander';
import { type BackendOptions, startBackend } from '../cli/backend.js';
import {
  addBackendOption,
  addQuantizeOptions,
  intArg,
  numberArg,
  quantizeOptionsFrom,
} from '../cli/options.js';
import { note, warningsToStderr } from '../cli/output.js';

interface GenerateCliOptions extends BackendOptions {
  prompt: string;
  adapter?: string;
  maxNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed: number;
  json?: boolean;
}

export function registerGenerateCommand(program: Command): void {
  const command = program
    .command('generate')
    .description(
      'Continue a prompt with a model folder (and a PEFT adapter, if given); greedy unless sampling is asked for',
    )
    .argument('<model-dir>', 'Hugging Face model folder with tokenizer.json')
    .requiredOption('--prompt <text>', 'the text to continue')
    .option('--adapter <dir>', 'a PEFT adapter folder to apply')
    .option(
      '--max-new-tokens <n>',
      'tokens to add at most (default: generation_config.json, else 20)',
      intArg(0),
    )
    .option(
      '--temperature <t>',
      'sampling temperature; > 0 samples, 0 is greedy (default: generation_config.json, else greedy)',
      numberArg((n) => n >= 0, 'a number >= 0'),
    )
    .option('--top-k <k>', 'sample from the k most likely tokens (0: all)', intArg(0))
    .option(
      '--top-p <p>',
      'sample from the smallest set with probability >= p',
      numberArg((n) => n > 0 && n <= 1, 'a number in (0, 1]'),
    )
    .option('--seed <n>', 'seed of the sampling stream: same seed, same text', intArg(0), 0);
  addQuantizeOptions(command, 'to generate as a 4-bit fine-tuning run saw the model');
  command.option('--json', 'print one JSON object: prompt, text, completion, tokens, finishReason');
  addBackendOption(command);
  command.action(async (modelDir: string, opts: GenerateCliOptions & Record<string, unknown>) => {
    const quantize = quantizeOptionsFrom(command, opts);
    const restore = warningsToStderr();
    try {
      await startBackend(opts, note);
      const result = await generateText({
        model: modelDir,
        prompt: opts.prompt,
        ...(opts.adapter ? { adapter: opts.adapter } : {}),
        ...(opts.maxNewTokens === undefined ? {} : { maxNewTokens: opts.maxNewTokens }),
        ...(opts.temperature === undefined ? {} : { temperature: opts.temperature }),
        ...(opts.topK === undefined ? {} : { topK: opts.topK }),
        ...(opts.topP === undefined ? {} : { topP: opts.topP }),
        seed: opts.seed,
        ...quantize,
      });
      process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `${result.text}\n`);
    } finally {
      restore();
    }
  });
}
