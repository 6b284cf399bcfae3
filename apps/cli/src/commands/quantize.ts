import { isFloatDType, pythonJsonFloat, type StateDict } from '@peft/core';
import {
  BNB4_BLOCKSIZES,
  type Bnb4DType,
  type Bnb4QuantType,
  bnb4QuantizationConfig,
  bnb4StateDict,
  QUANTIZATION_CONFIG_FLOAT_FIELDS,
  quantize4bit,
} from '@peft/quant-bnb4';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { LosslessNumber } from 'lossless-json';
import { OVERWRITE_HELP, openCheckpointInput, progressBar, writeCheckpointOutput } from './checkpoint-io.js';

export interface QuantizeOptions {
  output: string;
  quantType?: Bnb4QuantType;
  blocksize?: number;
  doubleQuant?: boolean;
  /** Quantize only 2-D weights whose name matches (overrides the default embedding / lm_head exclusion). */
  include?: RegExp;
  /** Never quantize weights whose name matches. */
  exclude?: RegExp;
  /** Replace an existing output folder even if it holds files that are not part of a model folder. */
  overwrite?: boolean;
}

export interface QuantizeReport {
  written: string[];
  quantized: string[];
  copied: string[];
}

/**
 * Embeddings and the output head stay in full precision, as transformers does (`lm_head` is skipped by
 * default; embeddings are not `nn.Linear`).
 */
const DEFAULT_EXCLUDED = /(^|\.)(lm_head|embed_out|wte|wpe|shared)\.weight$|embed/;

/** Quantizes every eligible 2-D floating `*.weight` of a .safetensors file or a model folder into bitsandbytes keys. */
export async function quantizeCheckpoint(
  inputPath: string,
  options: QuantizeOptions,
): Promise<QuantizeReport> {
  const input = await openCheckpointInput(inputPath);
  try {
    const quantized: string[] = [];
    const copied: string[] = [];
    const skippedLinear: string[] = [];
    const dtypes = new Map<Bnb4DType, number>();
    const isCandidate = (key: string) => {
      const info = input.source.info(key);
      return (
        key.endsWith('.weight') && info.shape.length === 2 && isFloatDType(info.dtype) && info.dtype !== 'F64'
      );
    };
    const shouldQuantize = (key: string) => {
      if (!isCandidate(key)) return false;
      const chosen = options.include ? options.include.test(key) : !DEFAULT_EXCLUDED.test(key);
      const take = chosen && !options.exclude?.test(key);
      if (!take) skippedLinear.push(key.slice(0, -'.weight'.length));
      return take;
    };
    const total = input.shards.reduce((n, s) => n + s.keys.length, 0);
    const bar = progressBar(total, 'quantize');

    const transformShard = async (shard: { keys: readonly string[] }): Promise<StateDict> => {
      const dict: StateDict = new Map();
      for (const key of shard.keys) {
        const tensor = await input.source.get(key);
        if (shouldQuantize(key)) {
          const q = quantize4bit(tensor, {
            quantType: options.quantType ?? 'nf4',
            blocksize: options.blocksize ?? 64,
            doubleQuant: options.doubleQuant ?? true,
            name: `${input.path}: ${key}`,
          });
          for (const [k, v] of bnb4StateDict(q, key.slice(0, -'weight'.length))) dict.set(k, v);
          dtypes.set(q.state.dtype, (dtypes.get(q.state.dtype) ?? 0) + 1);
          quantized.push(key);
        } else {
          dict.set(key, tensor);
          copied.push(key);
        }
        bar.tick();
      }
      return dict;
    };

    let written: string[];
    try {
      written = await writeCheckpointOutput(input, options.output, transformShard, {
        overwrite: options.overwrite ?? false,
        transformConfig: (config) =>
          withQuantizationConfig(config, {
            quantType: options.quantType ?? 'nf4',
            doubleQuant: options.doubleQuant ?? true,
            computeDtype: computeDtypeOf(config, dtypes),
            skipModules: skippedLinear.some((m) => !DEFAULT_EXCLUDED.test(`${m}.weight`))
              ? skippedLinear
              : null,
          }),
      });
    } finally {
      bar.stop();
    }
    if (quantized.length === 0) {
      process.stderr.write('warning: no tensor was quantized (no 2-D floating *.weight matched)\n');
    }
    return { written, quantized, copied };
  } finally {
    await input.close();
  }
}

/** The model's dtype from config.json, else the dtype most quantized weights had. */
function computeDtypeOf(config: Record<string, unknown>, dtypes: Map<Bnb4DType, number>): Bnb4DType {
  const declared = String(config['torch_dtype'] ?? config['dtype'] ?? '');
  if (declared === 'float32' || declared === 'float16' || declared === 'bfloat16') return declared;
  let best: Bnb4DType = 'float32';
  let count = -1;
  for (const [dtype, n] of dtypes) if (n > count) [best, count] = [dtype, n];
  return best;
}

/** config.json with the `quantization_config` transformers writes for a bitsandbytes 4-bit model. */
function withQuantizationConfig(
  config: Record<string, unknown>,
  settings: Parameters<typeof bnb4QuantizationConfig>[0],
): Record<string, unknown> {
  const qc = bnb4QuantizationConfig(settings);
  for (const field of QUANTIZATION_CONFIG_FLOAT_FIELDS) {
    // Python's json writes 6.0; transformers rejects an int here.
    qc[field] = new LosslessNumber(pythonJsonFloat(qc[field] as number));
  }
  return { ...config, quantization_config: qc };
}

function parseBlocksize(value: string): number {
  const n = Number(value);
  if (!BNB4_BLOCKSIZES.includes(n)) {
    throw new InvalidArgumentError(`must be one of ${BNB4_BLOCKSIZES.join(', ')}`);
  }
  return n;
}

function parseRegex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`not a valid regular expression (${(err as Error).message})`);
  }
}

export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description(
      'Quantize a .safetensors file or a Hugging Face model folder to bitsandbytes 4-bit (NF4/FP4), byte-compatible with Python',
    )
    .argument('<input>', '.safetensors file or model folder')
    .requiredOption(
      '-o, --output <path>',
      'output .safetensors file (for a file input) or folder (for a folder input)',
    )
    .addOption(new Option('--quant-type <type>', '4-bit data type').choices(['nf4', 'fp4']).default('nf4'))
    .option(
      '--blocksize <n>',
      `elements per absmax block (${BNB4_BLOCKSIZES.join(', ')})`,
      parseBlocksize,
      64,
    )
    .option('--no-double-quant', 'keep the absmax statistics in float32 instead of 8-bit')
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
          quantType: Bnb4QuantType;
          blocksize: number;
          doubleQuant: boolean;
          include?: RegExp;
          exclude?: RegExp;
          overwrite?: boolean;
        },
      ) => {
        const report = await quantizeCheckpoint(input, opts);
        process.stdout.write(
          `quantized ${report.quantized.length} weights (${opts.quantType}, blocksize ${opts.blocksize}, ` +
            `double quant ${opts.doubleQuant ? 'on' : 'off'}), copied ${report.copied.length} tensors -> ${opts.output}\n`,
        );
      },
    );
}
