import type { StateDict } from '@peft/core';
import { BNB4_DTYPES, type Bnb4DType, dequantize4bitToHost, readBnb4Tensor } from '@peft/quant-bnb4';
import { type Command, Option } from 'commander';
import {
  type InputShard,
  OVERWRITE_HELP,
  openCheckpointInput,
  progressBar,
  writeCheckpointOutput,
} from './checkpoint-io.js';

export interface DequantizeOptions {
  output: string;
  /** dtype of the restored weights; default: the dtype each quantization state records. */
  dtype?: Bnb4DType;
  /** Replace an existing output folder even if it holds files that are not part of a model folder. */
  overwrite?: boolean;
}

const QUANT_STATE_MARKER = '.weight.quant_state.bitsandbytes__';
const COMPANIONS = ['weight.absmax', 'weight.quant_map', 'weight.nested_absmax', 'weight.nested_quant_map'];

/** Turns every bitsandbytes 4-bit weight of a file or model folder back into a plain float weight. */
export async function dequantizeCheckpoint(
  inputPath: string,
  options: DequantizeOptions,
): Promise<{ written: string[]; dequantized: string[] }> {
  const input = await openCheckpointInput(inputPath);
  try {
    // Layer prefixes ("model.layers.0.mlp.up_proj.") whose weight is 4-bit.
    const prefixes = new Set<string>();
    const dropped = new Set<string>();
    for (const key of input.source.keys()) {
      const at = key.indexOf(QUANT_STATE_MARKER);
      if (at < 0) continue;
      const prefix = key.slice(0, at + 1);
      prefixes.add(prefix);
      dropped.add(key);
      for (const c of COMPANIONS) dropped.add(prefix + c);
    }
    for (const prefix of prefixes) {
      // Validate every layer before writing anything, so a broken one fails the run up front.
      if (!input.source.has(`${prefix}weight`)) await readBnb4Tensor(input.source, prefix);
    }
    const dequantized: string[] = [];
    const total = input.shards.reduce((n, s) => n + s.keys.length, 0);
    const bar = progressBar(total, 'dequantize');

    const transformShard = async (shard: InputShard): Promise<StateDict> => {
      const dict: StateDict = new Map();
      for (const key of shard.keys) {
        bar.tick();
        if (dropped.has(key)) continue;
        const prefix = key.endsWith('weight') ? key.slice(0, -'weight'.length) : null;
        if (prefix !== null && prefixes.has(prefix)) {
          const { tensor } = await readBnb4Tensor(input.source, prefix);
          dict.set(key, dequantize4bitToHost(tensor, options.dtype));
          dequantized.push(key);
        } else {
          dict.set(key, await input.source.get(key));
        }
      }
      return dict;
    };
    let written: string[];
    try {
      written = await writeCheckpointOutput(input, options.output, transformShard, {
        overwrite: options.overwrite ?? false,
        transformConfig: ({ quantization_config: _dropped, ...rest }) => rest,
      });
    } finally {
      bar.stop();
    }
    return { written, dequantized };
  } finally {
    await input.close();
  }
}

export function registerDequantizeCommand(program: Command): void {
  program
    .command('dequantize')
    .description(
      'Turn bitsandbytes 4-bit weights back into plain float weights (and drop quantization_config)',
    )
    .argument('<input>', '.safetensors file or model folder')
    .requiredOption(
      '-o, --output <path>',
      'output .safetensors file (for a file input) or folder (for a folder input)',
    )
    .addOption(
      new Option(
        '--dtype <dtype>',
        'dtype of the restored weights (default: the dtype recorded in each quant state)',
      ).choices(BNB4_DTYPES),
    )
    .option('--overwrite', OVERWRITE_HELP)
    .action(async (input: string, opts: DequantizeOptions) => {
      const report = await dequantizeCheckpoint(input, opts);
      process.stdout.write(`dequantized ${report.dequantized.length} weights -> ${opts.output}\n`);
    });
}
