import type { Command } from 'commander';
import { type BackendOptions, startBackend } from '../finetune/cli/backend.js';
import { addBackendOption, intArg } from '../finetune/cli/options.js';
import { note, warningsToStderr } from '../finetune/cli/output.js';
import { initAdapter } from '../finetune/init-adapter.js';
import { readAdapterConfigFile } from '../finetune/method-config.js';

export function registerInitAdapterCommand(program: Command): void {
  const command = program
    .command('init-adapter')
    .description(
      'Create an untrained adapter for a model from a PEFT adapter_config.json and save it in PEFT format',
    )
    .argument('<model-dir>', 'Hugging Face model folder')
    .requiredOption(
      '--config <adapter_config.json>',
      'a PEFT adapter config (VERA or LORA; any peft_type whose package is installed)',
    )
    .requiredOption(
      '-o, --output <adapter-dir>',
      'where adapter_config.json and adapter_model.safetensors are written',
    )
    .option('--seed <n>', 'seed of random initial weights (LoRA lora_A): same seed, same file', intArg(0), 0)
    .option('--overwrite', 'replace an adapter already in --output');
  addBackendOption(command);
  command.action(
    async (
      modelDir: string,
      opts: {
        config: string;
        output: string;
        seed: number;
        overwrite?: boolean;
      } & BackendOptions,
    ) => {
      const restore = warningsToStderr();
      try {
        const config = await readAdapterConfigFile(opts.config);
        await startBackend(opts, note);
        const report = await initAdapter(modelDir, config, opts.output, {
          seed: opts.seed,
          overwrite: opts.overwrite ?? false,
        });
        process.stdout.write(
          `${config.peft_type} adapter on ${report.targetedLayers} layers: ${report.parameterSummary}\n` +
            `written: ${report.written.join(', ')}\n`,
        );
      } finally {
        restore();
      }
    },
  );
}
