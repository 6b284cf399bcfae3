import { setupBackend } from '@peft/backends';
import { registeredLinearFormats } from '@peft/core';
import { dequantizeFolder, TORCH_FLOAT_DTYPES, type TorchFloatDType } from '@peft/models/node';
import { type Command, Option } from 'commander';
import { OVERWRITE_HELP, progressBar } from './checkpoint-cli.js';

export function registerDequantizeCommand(program: Command): void {
  program
    .command('dequantize')
    .description(
      'Turn quantized weights (bitsandbytes 4-bit, or any registered format) back into plain float weights and drop quantization_config',
    )
    .argument('<input>', '.safetensors file or model folder')
    .requiredOption(
      '-o, --output <path>',
      'output .safetensors file (for a file input) or folder (for a folder input)',
    )
    .addOption(
      new Option(
        '--dtype <dtype>',
        'dtype of the restored weights (default: the dtype each layer records, as a bitsandbytes quant state does)',
      ).choices(TORCH_FLOAT_DTYPES),
    )
    .option('--overwrite', OVERWRITE_HELP)
    .action(async (input: string, opts: { output: string; dtype?: TorchFloatDType; overwrite?: boolean }) => {
      // The formats' layers hold TensorFlow.js tensors; the plain cpu backend dequantizes exactly.
      await setupBackend('cpu');
      const bar = progressBar('dequantize');
      let report: Awaited<ReturnType<typeof dequantizeFolder>>;
      try {
        report = await dequantizeFolder(input, opts.output, {
          ...(opts.dtype ? { dtype: opts.dtype } : {}),
          overwrite: opts.overwrite ?? false,
          onProgress: bar.onProgress,
        });
      } finally {
        bar.stop();
      }
      if (report.dequantized.length === 0) {
        process.stderr.write(
          `warning: no quantized weight was found (registered formats: ${registeredLinearFormats().join(', ') || 'none'}); ` +
            'the tensors were copied as they are\n',
        );
      }
      process.stdout.write(`dequantized ${report.dequantized.length} weights -> ${opts.output}\n`);
    });
}
