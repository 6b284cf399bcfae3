// Option declarations and parsers the fine-tuning commands share (commander), so every command spells
// and checks `--method`, `--r`, `--quantize`, `--backend`, ... the same way.
import { BNB4_BLOCKSIZES } from '@peft/quant-bnb4';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type LoadBaseModelOptions, QUANTIZE_CHOICES, type QuantizeChoice } from '../base-model.js';
import {
  METHOD_NAMES,
  type MethodOptions,
  misplacedMethodOptions,
  parseTargetModules,
} from '../method-config.js';

export function intArg(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

export function numberArg(check: (n: number) => boolean, expected: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || !check(n))
      throw new InvalidArgumentError(`expected ${expected}`);
    return n;
  };
}

export const positiveNumber = numberArg((n) => n > 0, 'a positive number');
export const probability = numberArg((n) => n >= 0 && n < 1, 'a number in [0, 1)');

function intList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const ints = parts.map(Number);
  if (parts.some((p) => p === '') || ints.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new InvalidArgumentError('expected comma-separated non-negative integers, e.g. 0,1,2');
  }
  return ints;
}

function nameList(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('expected comma-separated module names');
  return names;
}

function targetModules(value: string): string[] | string {
  try {
    return parseTargetModules(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function initLoraWeights(value: string): boolean | 'gaussian' {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'gaussian') return 'gaussian';
  throw new InvalidArgumentError('expected true, false or gaussian');
}

function kernelThreads(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1, or auto');
  return n;
}

export function addBackendOption(command: Command): Command {
  return command
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend; auto takes webgpu, else wasm, else cpu')
        .choices(['auto', 'wasm', 'cpu', 'webgpu'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--kernel-threads <n>',
        'threads for the 4-bit matmul on wasm (auto: every core); the workers keep a copy of most rows of the 4-bit weights (60% on 2 threads)',
      )
        .argParser(kernelThreads)
        .default('auto'),
    );
}

export function addQuantizeOptions(command: Command, what: string): Command {
  return command
    .addOption(
      new Option(
        '--quantize <type>',
        `quantize the dense linear layers (not lm_head) to bitsandbytes 4-bit after loading, ${what}`,
      )
        .choices([...QUANTIZE_CHOICES])
        .default('none'),
    )
    .option(
      '--blocksize <n>',
      `absmax block size for --quantize (${BNB4_BLOCKSIZES.join(', ')})`,
      (value: string) => {
        const n = Number(value);
        if (!BNB4_BLOCKSIZES.includes(n))
          throw new InvalidArgumentError(`must be one of ${BNB4_BLOCKSIZES.join(', ')}`);
        return n;
      },
      64,
    )
    .option('--no-double-quant', 'with --quantize: keep the absmax statistics in float32');
}

export function quantizeOptionsFrom(opts: {
  quantize: QuantizeChoice;
  blocksize: number;
  doubleQuant: boolean;
}): LoadBaseModelOptions & { quantize: QuantizeChoice } {
  return { quantize: opts.quantize, blocksize: opts.blocksize, doubleQuant: opts.doubleQuant };
}

/** The method options (`--method`, `--r`, `--target-modules`, ...), PEFT's field names in the help. */
export function addMethodOptions(command: Command): Command {
  return command
    .addOption(new Option('--method <name>', 'PEFT method').choices(METHOD_NAMES).default('vera'))
    .option('--r <n>', 'rank (r); default 256 for VeRA, 8 for LoRA (PEFT defaults)', intArg(1))
    .option(
      '--target-modules <modules>',
      'target_modules: comma-separated names (exact or dotted suffix), "all-linear", or a regex matched ' +
        "against whole module paths; default: the method's default for the model type (q_proj,v_proj for Llama)",
      targetModules,
    )
    .option('--dropout <p>', 'vera_dropout / lora_dropout (default 0)', probability)
    .addOption(new Option('--bias <which>', 'bias: none, all, or vera_only / lora_only'))
    .option('--layers-to-transform <indices>', 'layers_to_transform: comma-separated layer indices', intList)
    .option(
      '--modules-to-save <names>',
      'modules_to_save: linear layers trained in full, e.g. lm_head',
      nameList,
    )
    .option('--d-initial <value>', 'VeRA d_initial (default 0.1)', numberArg(Number.isFinite, 'a number'))
    .option('--projection-prng-key <n>', 'VeRA projection_prng_key (default 0)', intArg(0))
    .option(
      '--no-save-projection',
      'VeRA save_projection false: regenerate vera_A/vera_B from the key on load',
    )
    .option('--lora-alpha <n>', 'LoRA lora_alpha (default 8)', positiveNumber)
    .option('--use-rslora', 'LoRA use_rslora: scale by alpha / sqrt(r)')
    .option('--init-lora-weights <how>', 'LoRA init_lora_weights: true, false or gaussian', initLoraWeights);
}

/** The method flags as commander parses them: `MethodOptions`, with `--no-save-projection` always set. */
export type MethodCliOptions = MethodOptions & { saveProjection: boolean };

/** The method option keys, as commander names them (camelCase of the flags). */
const METHOD_KEYS = [
  'method',
  'r',
  'targetModules',
  'dropout',
  'bias',
  'layersToTransform',
  'modulesToSave',
  'dInitial',
  'projectionPrngKey',
  'saveProjection',
  'loraAlpha',
  'useRslora',
  'initLoraWeights',
] as const;

/** Method options as `MethodOptions`; a flag of the other method is a usage error (exit code 2). */
export function methodOptionsFrom(command: Command, opts: MethodCliOptions): MethodOptions {
  const options: MethodOptions = { method: opts.method };
  for (const key of METHOD_KEYS) {
    if (key === 'saveProjection' || opts[key] === undefined) continue;
    Object.assign(options, { [key]: opts[key] });
  }
  // `--no-save-projection` makes commander default the value to true; only its use is an option.
  if (!opts.saveProjection) options.saveProjection = false;
  const problems = misplacedMethodOptions(options);
  if (problems.length > 0) command.error(`error: ${problems.join('; ')}`);
  return options;
}

/** The method options given on the command line, to refuse them beside `--adapter-config` / `--adapter`. */
export function methodFlagsGiven(command: Command): string[] {
  return METHOD_KEYS.filter((k) => command.getOptionValueSource(k) === 'cli');
}
