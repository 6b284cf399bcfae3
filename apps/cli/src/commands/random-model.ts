import { readFile } from 'node:fs/promises';
import { ConfigError } from '@peft/core';
import { MODEL_PRESETS } from '@peft/models';
import { writeRandomModel } from '@peft/models/node';
import { type Command, Option } from 'commander';
import { intArg } from '../cli/options.js';
import { formatBytes, note, withThousands } from '../cli/output.js';

interface RandomModelCliOptions {
  preset?: string;
  config?: string;
  seed: number;
  dtype: 'bfloat16' | 'float32';
  json?: boolean;
}

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`--config ${path} cannot be read: ${(cause as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new ConfigError(`--config ${path}: not valid JSON (${(cause as Error).message})`);
  }
}

export function registerRandomModelCommand(program: Command): void {
  program
    .command('random-model')
    .description(
      "Write a Hugging Face model folder of random weights with a real model's shapes (a preset or any config.json), " +
        'for capacity planning, benchmarks and tests; streamed tensor by tensor',
    )
    .argument('<output-dir>', 'where config.json, the *.safetensors weights and tokenizer.json go')
    .addOption(new Option('--preset <name>', "a real model's config").choices(Object.keys(MODEL_PRESETS)))
    .option('--config <config.json>', 'any Llama-family config.json instead of a preset')
    .option('--seed <n>', 'seed of the weights: same seed, same bytes', intArg(0), 0)
    .addOption(
      new Option('--dtype <dtype>', 'weight dtype on disk')
        .choices(['bfloat16', 'float32'])
        .default('bfloat16'),
    )
    .option('--json', 'print one JSON object: files, parameters, weightBytes')
    .action(async (outputDir: string, opts: RandomModelCliOptions, command: Command) => {
      if ((opts.preset === undefined) === (opts.config === undefined)) {
        command.error('error: give --preset <name> or --config <config.json>');
      }
      const config = opts.preset ?? (await readConfigFile(opts.config!));
      const written = await writeRandomModel(outputDir, config, { seed: opts.seed, dtype: opts.dtype });
      if (opts.json) {
        const { files, parameters, weightBytes } = written;
        process.stdout.write(`${JSON.stringify({ outputDir, files, parameters, weightBytes })}\n`);
        return;
      }
      note(
        `${withThousands(written.parameters)} parameters, ${formatBytes(written.weightBytes)} of ${opts.dtype} weights`,
      );
      process.stdout.write(
        `written: ${outputDir} (${written.files.join(', ')}, config.json, tokenizer.json)\n`,
      );
    });
}
