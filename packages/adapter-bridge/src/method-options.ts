// Adapter configs from options as an application gathers them (command-line flags, a form, code), for any
// registered v2 method: the generic options every tuner shares plus the method's own, each checked
// against its spec and mapped to its adapter_config.json field, then parsed by the method.
import { ConfigError, checkOptionValue, optionFlag } from '@peft/core';
import type { AdapterConfig } from './config/peft-config.js';
import { type AnyTrainingPeftMethod, isTrainingCapable, type MethodOptionSpec } from './method.js';
import { methodByName, registeredMethods } from './registry.js';

/** The options every linear tuner takes, as an application passes them. */
export interface GenericMethodOptions {
  /** Rank; every shipped method has one (declared among its own options). */
  r?: number;
  /**
   * A list of names (exact or dotted suffix), or one string read as `parseTargetModules` reads it:
   * "all-linear", a regex (full match), or comma-separated names. Unset: the method's default.
   */
  targetModules?: readonly string[] | string;
  /** "none", "all", or the method's "<method>_only". */
  bias?: string;
  layersToTransform?: readonly number[];
  modulesToSave?: readonly string[];
}

/** Generic options plus the method's own, by their option names (e.g. `loraAlpha`). */
export type MethodOptionsInput = GenericMethodOptions & Readonly<Record<string, unknown>>;

const REGEX_CHARACTERS = /[*+?()[\]{}|\\^$]/;

/**
 * `target_modules` from one string as PEFT users write it: "all-linear"; a regular expression (any value
 * with regex characters, matched against whole module paths); else comma-separated names, each matching
 * a module path exactly or as a dotted suffix.
 */
export function parseTargetModules(value: string): string[] | string {
  const trimmed = value.trim();
  if (trimmed.toLowerCase() === 'all-linear' || REGEX_CHARACTERS.test(trimmed)) return trimmed;
  const names = trimmed
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) {
    throw new ConfigError(
      `${optionFlag({ name: 'targetModules' })} is empty; give names, "all-linear" or a regex`,
    );
  }
  return names;
}

/**
 * The generic options of `method` as specs with their config fields (for help text and flags). `bias`
 * offers the method's own "<method>_only" value.
 */
export function genericMethodOptions(method: AnyTrainingPeftMethod): MethodOptionSpec[] {
  return [
    {
      name: 'targetModules',
      type: 'string',
      configField: 'target_modules',
      description:
        'target_modules: comma-separated names (exact or dotted suffix), "all-linear", or a regex matched against whole module paths; default: the method\'s default for the model type',
      toConfigValue: (value) =>
        typeof value === 'string' ? parseTargetModules(value) : [...(value as string[])],
    },
    {
      name: 'bias',
      type: 'string',
      configField: 'bias',
      description: `bias: which biases are trained (none, all, ${method.biasOnly})`,
      default: 'none',
      choices: ['none', 'all', method.biasOnly],
    },
    {
      name: 'layersToTransform',
      type: 'int-list',
      configField: 'layers_to_transform',
      description: 'layers_to_transform: comma-separated layer indices to adapt (default: every layer)',
      min: 0,
    },
    {
      name: 'modulesToSave',
      type: 'string-list',
      configField: 'modules_to_save',
      description: 'modules_to_save: linear layers trained in full and saved with the adapter, e.g. lm_head',
    },
  ];
}

/** Every option `adapterConfigFromOptions` takes for `method`: generic ones first, then the method's. */
export function methodOptionSpecs(method: AnyTrainingPeftMethod): MethodOptionSpec[] {
  return [...genericMethodOptions(method), ...method.training.options];
}

/** A target-modules value passes as a non-empty string or a non-empty list of non-empty strings. */
function checkTargetModules(value: unknown): void {
  const ok =
    (typeof value === 'string' && value.trim() !== '') ||
    (Array.isArray(value) &&
      value.length > 0 &&
      value.every((v) => typeof v === 'string' && v.trim() !== ''));
  if (!ok) {
    throw new ConfigError(
      `option "targetModules" ${JSON.stringify(value)} is not valid: expected a list of module names or one string ("all-linear", a regex, or comma-separated names)`,
    );
  }
}

/** Where else an option name is known, for "this is an option of lora, not vera". */
function ownersOf(key: string, except: AnyTrainingPeftMethod): string[] {
  return registeredMethods()
    .filter(isTrainingCapable)
    .filter((m) => m !== except && m.training.options.some((o) => o.name === key))
    .map((m) => m.name);
}

/**
 * A parsed, validated adapter config (PEFT's defaults for every unset field) for the method called
 * `name`, from generic options and the method's own. Unset (undefined) options are skipped; an option
 * this method does not have is a ConfigError naming it (and the method it belongs to, if any), so a
 * flag of another method is refused rather than ignored.
 */
export function adapterConfigFromOptions(
  name: string,
  options: MethodOptionsInput,
  parse: { source?: string } = {},
): AdapterConfig {
  const method = methodByName(name);
  const specs = new Map(methodOptionSpecs(method).map((spec) => [spec.name, spec]));
  const unknown = Object.keys(options).filter((key) => options[key] !== undefined && !specs.has(key));
  if (unknown.length > 0) {
    const problems = unknown.map((key) => {
      const owners = ownersOf(key, method);
      return owners.length
        ? `${optionFlag({ name: key })} (${key}) applies to ${owners.join(', ')}, not ${method.name}`
        : `${optionFlag({ name: key })} (${key}) is not an option of ${method.name}`;
    });
    throw new ConfigError(
      `${problems.join('; ')}; ${method.name}'s options are ${[...specs.keys()].join(', ')}`,
    );
  }
  const fields: Record<string, unknown> = { peft_type: method.peftType };
  for (const [key, spec] of specs) {
    let value = options[key];
    if (value === undefined) continue;
    if (key === 'targetModules') checkTargetModules(value);
    else {
      // A string option whose choices spell booleans takes the boolean too (initLoraWeights: true).
      if (spec.type === 'string' && typeof value === 'boolean' && spec.choices?.includes(String(value))) {
        value = String(value);
      }
      checkOptionValue(spec, value);
    }
    fields[spec.configField] = spec.toConfigValue
      ? spec.toConfigValue(value)
      : Array.isArray(value)
        ? [...value]
        : value;
  }
  return method.parseConfig(fields, {
    source: parse.source ?? `the ${method.name} options`,
  }) as AdapterConfig;
}
