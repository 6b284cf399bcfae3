// Option declarations the model commands share (commander). Method and quantizer flags come from the
// registries: each registered method (contract v2) and quantizer declares its options, and they appear
// here without any edit to this app.
import {
  type AnyTrainingPeftMethod,
  isTrainingCapable,
  type MethodOptionSpec,
  methodOptionSpecs,
  registeredMethods,
} from '@peft/adapter-bridge';
import { type OptionSpec, optionFlag, parseOptionValue, registeredQuantizers } from '@peft/core';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { givenByUser } from './run-config.js';

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

/** A commander option for an option spec: booleans that default to true become `--no-<flag>`. */
function specOption(spec: OptionSpec, description: string): Option {
  const flag = optionFlag(spec);
  if (spec.type === 'boolean') {
    return spec.default === true
      ? new Option(`--no-${flag.slice(2)}`, description)
      : new Option(flag, description);
  }
  return new Option(`${flag} <value>`, description).argParser((raw: string) => {
    try {
      return parseOptionValue(spec, raw);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  });
}

/**
 * Specs of the same name from several plug-ins become one flag; its help says which take it, and says a
 * description once when every plug-in words it the same.
 */
function mergedSpecs<S extends OptionSpec>(
  owners: readonly { name: string; specs: readonly S[] }[],
): Map<string, { spec: S; help: string }> {
  const grouped = new Map<string, { spec: S; texts: Map<string, string[]> }>();
  for (const owner of owners) {
    for (const spec of owner.specs) {
      const entry = grouped.get(spec.name) ?? { spec, texts: new Map<string, string[]>() };
      const text = `${spec.description}${spec.default === undefined ? '' : ` (default ${String(spec.default)})`}`;
      entry.texts.set(text, [...(entry.texts.get(text) ?? []), owner.name]);
      grouped.set(spec.name, entry);
    }
  }
  const merged = new Map<string, { spec: S; help: string }>();
  for (const [name, { spec, texts }] of grouped) {
    const help = [...texts].map(([text, names]) => `${names.join(', ')}: ${text}`).join('; ');
    merged.set(name, { spec, help });
  }
  return merged;
}

/** The registered methods that implement contract v2 (name, options, defaults). */
export function trainingMethods(): AnyTrainingPeftMethod[] {
  return registeredMethods().filter(isTrainingCapable);
}

const GENERIC_METHOD_KEYS = new Set(['targetModules', 'bias', 'layersToTransform', 'modulesToSave']);

/** `--method` and every registered method's options, PEFT's field names in the help. */
export function addMethodOptions(command: Command): Command {
  const methods = trainingMethods();
  command.addOption(
    new Option('--method <name>', 'PEFT method (from the registered method packages)')
      .choices(methods.map((m) => m.name))
      .default('vera'),
  );
  const merged = mergedSpecs<MethodOptionSpec>(
    methods.map((m) => ({ name: m.name, specs: methodOptionSpecs(m) })),
  );
  for (const [name, { spec, help }] of merged) {
    if (name === 'targetModules') {
      command.addOption(new Option('--target-modules <modules>', spec.description));
    } else if (GENERIC_METHOD_KEYS.has(name)) {
      // Generic options read the same for every method; their allowed values (bias: "<method>_only") are
      // the chosen method's, checked when the config is made.
      const { choices: _choices, ...generic } = spec;
      const description =
        name === 'bias' ? 'bias: which biases are trained (none, all, or <method>_only)' : spec.description;
      command.addOption(specOption(generic, description));
    } else {
      command.addOption(specOption(spec, help));
    }
  }
  return command;
}

/** The method option keys that flags can set (every registered method's). */
function methodOptionKeys(): string[] {
  return [...new Set(trainingMethods().flatMap((m) => methodOptionSpecs(m).map((s) => s.name)))];
}

/** The method options given on the command line, by name (for `adapterConfigFromOptions`). */
export function methodOptionsFrom(
  command: Command,
  opts: Record<string, unknown>,
): { method: string; options: Record<string, unknown> } {
  const method = String(opts['method']);
  const options: Record<string, unknown> = {};
  for (const key of methodFlagsGiven(command)) options[key] = opts[key];
  const chosen = trainingMethods().find((m) => m.name === method);
  if (chosen) {
    const own = new Set(methodOptionSpecs(chosen).map((s) => s.name));
    const misplaced = Object.keys(options).filter((k) => !own.has(k));
    if (misplaced.length > 0) {
      const owners = (key: string) =>
        trainingMethods()
          .filter((m) => methodOptionSpecs(m).some((s) => s.name === key))
          .map((m) => m.name);
      command.error(
        `error: ${misplaced.map((k) => `${optionFlag({ name: k })} applies to --method ${owners(k).join(' or ')} only`).join('; ')}`,
      );
    }
  }
  return { method, options };
}

/** The method options given on the command line, to refuse them beside `--adapter-config` / `--adapter`. */
export function methodFlagsGiven(command: Command): string[] {
  return methodOptionKeys().filter((k) => givenByUser(command, k));
}

/** `--quantize` with every registered quantizer, and their options. */
export function addQuantizeOptions(
  command: Command,
  what: string,
  defaultChoice: string | null = 'none',
): Command {
  const quantizers = registeredQuantizers();
  const option = new Option(
    '--quantize <type>',
    `quantize the dense linear layers (not lm_head) after loading, ${what}: ${quantizers.map((q) => `${q.name} (${q.description})`).join('; ')}`,
  ).choices(['none', ...quantizers.map((q) => q.name)]);
  command.addOption(defaultChoice === null ? option : option.default(defaultChoice));
  return addQuantizerOptionFlags(command);
}

/** A flag for every option of every registered quantizer (`--blocksize`, `--no-double-quant`, ...). */
export function addQuantizerOptionFlags(command: Command): Command {
  const quantizers = registeredQuantizers();
  for (const [, { spec, help }] of mergedSpecs(quantizers.map((q) => ({ name: q.name, specs: q.options })))) {
    command.addOption(specOption(spec, `with --quantize ${help}`));
  }
  return command;
}

/** `--quantize` and the quantizer options given on the command line. */
export function quantizeOptionsFrom(
  command: Command,
  opts: Record<string, unknown>,
): { quantize: string; quantizeOptions: Record<string, unknown> } {
  const quantize = (opts['quantize'] as string | undefined) ?? 'none';
  const quantizeOptions: Record<string, unknown> = {};
  const keys = new Set(registeredQuantizers().flatMap((q) => q.options.map((o) => o.name)));
  for (const key of keys) if (givenByUser(command, key)) quantizeOptions[key] = opts[key];
  const chosen = registeredQuantizers().find((q) => q.name === quantize);
  // Without a quantizer the options have nothing to apply to, and are left out.
  if (!chosen) return { quantize, quantizeOptions: {} };
  const misplaced = Object.keys(quantizeOptions).filter((k) => !chosen.options.some((o) => o.name === k));
  if (misplaced.length > 0) {
    command.error(
      `error: ${misplaced.map((k) => `${optionFlag({ name: k })} does not apply to --quantize ${quantize}`).join('; ')}`,
    );
  }
  return { quantize, quantizeOptions };
}
