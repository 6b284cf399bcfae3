import { setupBackend } from '@peft/backends';
import { type OptionSpec, type Quantizer, registeredQuantizers } from '@peft/core';
import { type QuantizeFolderReport, quantizeFolder } from '@peft/models/node';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { addQuantizerOptionFlags, quantizeOptionsFrom } from '../cli/options.js';
import { OVERWRITE_HELP, progressBar } from './checkpoint-cli.js';

function parseRegex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`not a valid regular expression (${(err as Error).message})`);
  }
}

/** `doubleQuant` -> "double quant". */
function words(name: string): string {
  return name.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
}

/** "nf4, blocksize 64, double quant on": the quantizer and every option as applied. */
export function describeQuantization(quantizer: Quantizer, report: QuantizeFolderReport): string {
  const shown = (spec: OptionSpec) => {
    const value = report.quantizeOptions[spec.name];
    if (typeof value === 'boolean') return `${words(spec.name)} ${value ? 'on' : 'off'}`;
    return `${words(spec.name)} ${Array.isArray(value) ? value.join(',') : String(value)}`;
  };
  return [quantizer.name, ...quantizer.options.map(shown)].join(', ');
}

export function registerQuantizeCommand(program: Command): void {
  const quantizers = registeredQuantizers();
  const names = quantizers.map((q) => q.name);
  const command = program
    .command('quantize')
    .description(
      'Quantize a .safetensors file or a Hugging Face model folder with a registered quantizer ' +
        '(bitsandbytes NF4/FP4 built in, byte-compatible with Python; more with --plugin)',
    )
    .argument('<input>', '.safetensors file or model folder')
    .requiredOption(
      '-o, --output <path>',
      'output .safetensors file (for a file input) or folder (for a folder input)',
    )
    .addOption(
      new Option(
        '--quantize <name>',
        `the quantizer: ${quantizers.map((q) => `${q.name} (${q.description})`).join('; ')} (default: ${names.includes('nf4') ? 'nf4' : names[0]})`,
      ).choices(names),
    )
    // Its name before quantizers came from the registry; scripts still pass it.
    .addOption(new Option('--quant-type <name>', 'the same as --quantize').choices(names).hideHelp());
  addQuantizerOptionFlags(command);
  command
    .option(
      '--include <regex>',
      'quantize only 2-D weights whose tensor name matches (embeddings included if they match)',
      parseRegex,
    )
    .option('--exclude <regex>', 'never quantize weights whose tensor name matches', parseRegex)
    .option('--overwrite', OVERWRITE_HELP)
    .action(
      async (
        input: string,
        opts: {
          output: string;
          quantize?: string;
          quantType?: string;
          include?: RegExp;
          exclude?: RegExp;
          overwrite?: boolean;
        } & Record<string, unknown>,
      ) => {
        if (opts.quantize && opts.quantType && opts.quantize !== opts.quantType)
          command.error('error: --quant-type is the old name of --quantize; give one of them');
        const name = opts.quantize ?? opts.quantType ?? (names.includes('nf4') ? 'nf4' : names[0]);
        if (name === undefined) command.error('error: no quantizer is registered; load one with --plugin');
        const { quantize, quantizeOptions } = quantizeOptionsFrom(command, { ...opts, quantize: name });
        // The quantizers work on layers (TensorFlow.js tensors); the plain cpu backend computes them
        // exactly, and the time goes to reading, quantizing on the host and writing anyway.
        await setupBackend('cpu');
        const bar = progressBar('quantize');
        let report: QuantizeFolderReport;
        try {
          report = await quantizeFolder(input, opts.output, {
            quantize,
            quantizeOptions,
            ...(opts.include ? { include: opts.include } : {}),
            ...(opts.exclude ? { exclude: opts.exclude } : {}),
            overwrite: opts.overwrite ?? false,
            onProgress: bar.onProgress,
          });
        } finally {
          bar.stop();
        }
        if (report.quantized.length === 0)
          process.stderr.write('warning: no tensor was quantized (no 2-D floating *.weight matched)\n');
        const quantizer = quantizers.find((q) => q.name === report.quantize)!;
        process.stdout.write(
          `quantized ${report.quantized.length} weights (${describeQuantization(quantizer, report)}), ` +
            `copied ${report.copied.length} tensors -> ${opts.output}\n`,
        );
      },
    );
}
