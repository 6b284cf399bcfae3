// Options a plug-in (a PEFT method, a quantizer) declares, so an application can offer them as
// command-line flags or form fields and check them without knowing the plug-in. One spec serves both
// ways in: a string typed on a command line (`parseOptionValue`) and a typed value from code or JSON
// (`checkOptionValue`).
import { ConfigError } from './errors.js';

export type OptionType = 'int' | 'number' | 'boolean' | 'string' | 'int-list' | 'string-list';

export interface OptionSpec {
  /** camelCase options key, e.g. "blocksize", "loraAlpha"; the command-line flag is its --kebab-case. */
  readonly name: string;
  readonly type: OptionType;
  /** One-line help, with the PEFT / bitsandbytes field name in it where there is one. */
  readonly description: string;
  /** The value used when the option is not given (for help text; resolvers fill it in). */
  readonly default?: string | number | boolean | readonly (string | number)[];
  /** The only values allowed (for lists: allowed for each element). */
  readonly choices?: readonly (string | number)[];
  /** Inclusive lower bound for int / number (for int-list: each element). */
  readonly min?: number;
  /** Inclusive upper bound for int / number (for int-list: each element). */
  readonly max?: number;
}

/** `loraAlpha` -> `--lora-alpha`. */
export function optionFlag(spec: Pick<OptionSpec, 'name'>): string {
  return `--${spec.name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** What the option accepts, in words, for error messages. */
function expected(spec: OptionSpec): string {
  const bounds =
    spec.min !== undefined && spec.max !== undefined
      ? ` in [${spec.min}, ${spec.max}]`
      : spec.min !== undefined
        ? ` >= ${spec.min}`
        : spec.max !== undefined
          ? ` <= ${spec.max}`
          : '';
  const choices = spec.choices ? `one of ${spec.choices.map((c) => String(c)).join(', ')}` : '';
  switch (spec.type) {
    case 'int':
      return choices || `an integer${bounds}`;
    case 'number':
      return choices || `a finite number${bounds}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return choices || 'a non-empty string';
    case 'int-list':
      return `comma-separated integers${bounds}${choices ? ` (each ${choices})` : ''}`;
    case 'string-list':
      return `comma-separated names${choices ? ` (each ${choices})` : ''}`;
  }
}

/** The reason `value` (already of the option's JS type) breaks a bound or choice, or null. */
function scalarProblem(spec: OptionSpec, value: string | number): string | null {
  if (spec.choices && !spec.choices.includes(value)) return 'not an allowed value';
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) return `below the minimum ${spec.min}`;
    if (spec.max !== undefined && value > spec.max) return `above the maximum ${spec.max}`;
  }
  return null;
}

function isScalarOfType(type: OptionType, value: unknown): value is string | number {
  switch (type) {
    case 'int':
    case 'int-list':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
    case 'string-list':
      return typeof value === 'string' && value.trim() !== '';
    case 'boolean':
      return false;
  }
}

function fail(where: string, spec: OptionSpec, shown: string, why?: string): never {
  throw new ConfigError(
    `${where} ${shown} is not valid${why ? ` (${why})` : ''}: expected ${expected(spec)}`,
  );
}

/**
 * Checks a typed value (from code or JSON) against its spec; a bad one is a ConfigError naming the
 * option. `undefined` is refused: callers skip options that were not given.
 */
export function checkOptionValue(spec: OptionSpec, value: unknown): void {
  validate(spec, value, `option "${spec.name}"`, shownValue(value));
}

function shownValue(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}

/** The checks of `checkOptionValue`, with the failure named as the caller saw the value. */
function validate(spec: OptionSpec, value: unknown, where: string, shown: string): void {
  if (spec.type === 'boolean') {
    if (typeof value !== 'boolean') fail(where, spec, shown);
    return;
  }
  if (spec.type === 'int-list' || spec.type === 'string-list') {
    if (!Array.isArray(value) || value.length === 0) fail(where, spec, shown, 'not a non-empty list');
    for (const element of value) {
      if (!isScalarOfType(spec.type, element)) fail(where, spec, shown);
      const why = scalarProblem(spec, element);
      if (why) fail(where, spec, shown, `${JSON.stringify(element)} is ${why}`);
    }
    return;
  }
  if (!isScalarOfType(spec.type, value)) fail(where, spec, shown);
  const why = scalarProblem(spec, value);
  if (why) fail(where, spec, shown, why);
}

function parseNumber(text: string, integer: boolean): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const n = Number(trimmed);
  if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) return null;
  return n;
}

/**
 * The typed value of a string from a command line: numbers for int / number, true / false for
 * boolean, comma-separated lists. A bad string is a ConfigError naming the --flag and what it expects.
 */
export function parseOptionValue(spec: OptionSpec, raw: string): unknown {
  const where = optionFlag(spec);
  const shown = JSON.stringify(raw);
  let value: unknown;
  switch (spec.type) {
    case 'int':
    case 'number':
      value = parseNumber(raw, spec.type === 'int');
      if (value === null) fail(where, spec, shown);
      break;
    case 'boolean': {
      const text = raw.trim().toLowerCase();
      if (text !== 'true' && text !== 'false') fail(where, spec, shown);
      value = text === 'true';
      break;
    }
    case 'string':
      value = raw.trim();
      break;
    case 'int-list':
    case 'string-list': {
      const parts = raw.split(',').map((s) => s.trim());
      if (parts.length === 0 || parts.some((p) => p === '')) fail(where, spec, shown, 'an empty element');
      value =
        spec.type === 'int-list'
          ? parts.map(
              (p) =>
                parseNumber(p, true) ?? fail(where, spec, shown, `${JSON.stringify(p)} is not an integer`),
            )
          : parts;
      break;
    }
  }
  validate(spec, value, where, shown);
  return value;
}

/**
 * Options as a plug-in resolves them: every key checked against its spec (an unknown key is a
 * ConfigError naming it and listing the known ones), unset (undefined) ones given their spec's default.
 * `owner` names the plug-in in messages, e.g. 'quantizer "nf4"'.
 */
export function resolveOptionValues(
  specs: readonly OptionSpec[],
  input: Readonly<Record<string, unknown>>,
  owner: string,
): Readonly<Record<string, unknown>> {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const unknown = Object.keys(input).filter((key) => input[key] !== undefined && !byName.has(key));
  if (unknown.length > 0) {
    throw new ConfigError(
      `${owner} has no option ${unknown.map((k) => `"${k}"`).join(', ')}; its options are ${specs.map((s) => s.name).join(', ') || 'none'}`,
    );
  }
  const resolved: Record<string, unknown> = {};
  for (const spec of specs) {
    const value = input[spec.name];
    if (value !== undefined) {
      checkOptionValue(spec, value);
      resolved[spec.name] = Array.isArray(value) ? Object.freeze([...value]) : value;
    } else if (spec.default !== undefined) {
      resolved[spec.name] = spec.default;
    }
  }
  return Object.freeze(resolved);
}
