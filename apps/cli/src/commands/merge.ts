import { mergeAdapter } from '@peft/training/node';
import type { Command } from 'commander';
import { type BackendOptions, startBackend } from '../cli/backend.js';
import { addBackendOption } from '../cli/options.js';
import { note, warningsToStderr } from '../cli/output.js';
import { OVERWRITE_HELP } from './checkpoint-cli.js';

export function registerMergeCommand(program: Command): void {
  const command = program
    .command('merge')
    .description(
      'Fold a PEFT adapter into its base model and write a Hugging Face folder (a bitsandbytes 4-bit base stays ' +
        '4-bit with the same quantization_config; re-quantizing is lossy)',
    )
    .argument('<model-dir>', 'the base model folder the adapter was trained on')
    .requiredOption('--adapter <dir>', 'the PEFT adapter folder')
    .requiredOption(
      '-o, --output <out-dir>',
      'the merged model folder (created; files in it are replaced only once all are written)',
    )
    .option('--overwrite', OVERWRITE_HELP);
  addBackendOption(command);
  command.action(
    async (
      modelDir: string,
      opts: { adapter: string; output: string; overwrite?: boolean } & BackendOptions,
    ) => {
      const restore = warningsToStderr();
      try {
        await startBackend(opts, note);
        const report = await mergeAdapter({
          model: modelDir,
          adapter: opts.adapter,
          output: opts.output,
          overwrite: opts.overwrite ?? false,
        });
        const schemes = Object.entries(report.schemes)
          .map(([scheme, n]) => `${n} ${scheme}`)
          .join(', ');
        process.stdout.write(
          `merged ${report.mergedLayers.length} layers (${schemes}) -> ${opts.output}\n` +
            (report.lossy
              ? 'note: the 4-bit layers were dequantized, summed with the adapter and re-quantized; outputs differ slightly from the unmerged model\n'
              : ''),
        );
      } finally {
        restore();
      }
    },
  );
}
