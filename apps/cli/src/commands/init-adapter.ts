import { initAdapter } from '@peft/training/node';
import type { Command } from 'commander';
import { type BackendOptions, startBackend } from '../cli/backend.js';
import {
  addBackendOption,
  addMethodOptions,
  intArg,
  methodFlagsGiven,
  methodOptionsFrom,
} from '../cli/options.js';
import { note, warningsToStderr } from '../cli/output.js';

export function registerInitAdapterCommand(program: Command): void {
  const command = program
    .command('init-adapter')
    .description(
      'Create an untrained adapter for a model, from a PEFT adapter_config.json or the method options, and save it in PEFT format',
    )
    .argument('<model-dir>', 'Hugging Face model folder')
    .option(
      '--config <adapter_config.json>',
      'a PEFT adapter config (any peft_type whose package is registered) instead of the method options',
    )
    .requiredOption(
      '-o, --output <adapter-dir>',
      'where adapter_config.json and adapter_model.safetensors are written',
    )
    .option('--seed <n>', 'seed of random initial weights (LoRA lora_A): same seed, same file', intArg(0), 0)
    .option('--overwrite', 'replace an adapter already in --output');
  addMethodOptions(command);
  addBackendOption(command);
  command.action(
    async (
      modelDir: string,
      opts: {
        config?: string;
        output: string;
        seed: number;
        overwrite?: boolean;
      } & BackendOptions &
        Record<string, unknown>,
    ) => {
      let source: { adapterConfig: string } | { method: string; methodOptions: Record<string, unknown> };
      if (opts.config) {
        if (methodFlagsGiven(command).length > 0 || command.getOptionValueSource('method') === 'cli') {
          command.error('error: --config gives the whole adapter config; drop the method options');
        }
        source = { adapterConfig: opts.config };
      } else {
        const { method, options } = methodOptionsFrom(command, opts);
        source = { method, methodOptions: options };
      }
      const restore = warningsToStderr();
      try {
        await startBackend(opts, note);
        const report = await initAdapter({
          model: modelDir,
          output: opts.output,
          ...source,
          seed: opts.seed,
          overwrite: opts.overwrite ?? false,
        });
        process.stdout.write(
          `${report.peftType} adapter on ${report.targetedLayers} layers: ${report.parameterSummary}\n` +
            `written: ${report.written.join(', ')}\n`,
        );
      } finally {
        restore();
      }
    },
  );
}
