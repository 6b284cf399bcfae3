import { ConfigError } from '@peft/core';
import { PyFloat, type PyJson } from './python-json.js';

/**
 * One field of an adapter config: its PEFT default, how a value read from `adapter_config.json` (or
 * passed by a caller) is checked, and how it is written back so Python reads the same value.
 */
export interface FieldSpec<T> {
  defaultValue(): T;
  /** Checks and normalises `value`; throws a `ConfigError` that names `field`. */
  parse(value: unknown, field: string): T;
  toJson(value: T): PyJson;
}

/** A config schema: one `FieldSpec` per field, keyed by PEFT's snake_case field name. */
export type ConfigSchema<C> = { readonly [K in keyof C]-?: FieldSpec<C[K]> };

function fail(field: string, expected: string, value: unknown): never {
  throw new ConfigError(
    `adapter config field "${field}": expected ${expected}, got ${JSON.stringify(value)}`,
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function intField(defaultValue: number, options: { min?: number } = {}): FieldSpec<number> {
  return {
    defaultValue: () => defaultValue,
    parse(value, field) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(field, 'an integer', value);
      if (options.min !== undefined && value < options.min)
        fail(field, `an integer >= ${options.min}`, value);
      return value;
    },
    toJson: (value) => value,
  };
}

/** A Python float field: written with a decimal point even when integral (`0.0`, not `0`). */
export function floatField(
  defaultValue: number,
  options: { min?: number; max?: number } = {},
): FieldSpec<number> {
  return {
    defaultValue: () => defaultValue,
    parse(value, field) {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, 'a finite number', value);
      if (options.min !== undefined && value < options.min) fail(field, `a number >= ${options.min}`, value);
      if (options.max !== undefined && value > options.max) fail(field, `a number <= ${options.max}`, value);
      return value;
    },
    toJson: (value) => new PyFloat(value),
  };
}

/** A Python int field that callers sometimes set to a float (e.g. `lora_alpha`); written as given. */
export function numberField(defaultValue: number): FieldSpec<number> {
  return {
    defaultValue: () => defaultValue,
    parse(value, field) {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, 'a finite number', value);
      return value;
    },
    toJson: (value) => value,
  };
}

export function boolField(defaultValue: boolean): FieldSpec<boolean> {
  return {
    defaultValue: () => defaultValue,
    parse(value, field) {
      if (typeof value !== 'boolean') fail(field, 'true or false', value);
      return value;
    },
    toJson: (value) => value,
  };
}

export function enumField<const T extends string>(values: readonly T[], defaultValue: T): FieldSpec<T> {
  return {
    defaultValue: () => defaultValue,
    parse(value, field) {
      if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
        fail(field, `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`, value);
      }
      return value as T;
    },
    toJson: (value) => value,
  };
}

export function nullableStringField(defaultValue: string | null = null): FieldSpec<string | null> {
  return {
    defaultValue: () => defaultValue,
    parse(value, field) {
      if (value !== null && typeof value !== 'string') fail(field, 'a string or null', value);
      return value;
    },
    toJson: (value) => value,
  };
}

/** `list[str] | str | None`; a list loses duplicates (PEFT turns it into a set), keeping first-seen order. */
export function stringOrListField(): FieldSpec<string[] | string | null> {
  return {
    defaultValue: () => null,
    parse(value, field) {
      if (value === null || typeof value === 'string') return value;
      if (Array.isArray(value) && value.every((v) => typeof v === 'string'))
        return [...new Set(value as string[])];
      return fail(field, 'a string, a list of strings or null', value);
    },
    toJson: (value) => (Array.isArray(value) ? [...value] : value),
  };
}

export function stringListField(): FieldSpec<string[] | null> {
  return {
    defaultValue: () => null,
    parse(value, field) {
      if (value === null) return null;
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...(value as string[])];
      return fail(field, 'a list of strings or null', value);
    },
    toJson: (value) => (value === null ? null : [...value]),
  };
}

/** `list[int] | int | None`, as `layers_to_transform`. */
export function intOrListField(): FieldSpec<number[] | number | null> {
  return {
    defaultValue: () => null,
    parse(value, field) {
      if (value === null) return null;
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      if (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v))) {
        return [...(value as number[])];
      }
      return fail(field, 'an integer, a list of integers or null', value);
    },
    toJson: (value) => (Array.isArray(value) ? [...value] : value),
  };
}

/**
 * A field this implementation reads and writes but does not act on; any value other than the
 * default is refused, naming the field, instead of being silently ignored.
 */
export function unsupportedField<T extends PyJson>(defaultValue: T, packageName: string): FieldSpec<T> {
  const expected = JSON.stringify(defaultValue);
  return {
    defaultValue: () => structuredClone(defaultValue),
    parse(value, field) {
      if (JSON.stringify(value) !== expected) {
        throw new ConfigError(
          `adapter config field "${field}" = ${JSON.stringify(value)} is not supported by ${packageName} ` +
            `(only the default ${expected} is)`,
        );
      }
      return structuredClone(defaultValue);
    },
    toJson: (value) => structuredClone(value),
  };
}

/** An opaque JSON object (or null), kept as read, e.g. `auto_mapping`. */
export function jsonObjectField(): FieldSpec<Record<string, PyJson> | null> {
  return {
    defaultValue: () => null,
    parse(value, field) {
      if (value === null) return null;
      if (!isPlainObject(value)) fail(field, 'an object or null', value);
      return structuredClone(value) as Record<string, PyJson>;
    },
    toJson: (value) => (value === null ? null : structuredClone(value)),
  };
}

export interface ParseOptions {
  /** Where the values come from, for messages (e.g. "adapters/x/adapter_config.json"). */
  readonly source: string;
  /** Called with each key the schema does not know (PEFT warns and ignores them). */
  readonly onUnknownKey?: (key: string) => void;
}

/** Fills every field of `schema` from `input` (defaults for absent keys) and checks each value. */
export function parseWithSchema<C>(
  schema: ConfigSchema<C>,
  input: Record<string, unknown>,
  options: ParseOptions,
): C {
  if (!isPlainObject(input)) {
    throw new ConfigError(
      `${options.source}: an adapter config must be a JSON object, got ${JSON.stringify(input)}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(schema, key)) options.onUnknownKey?.(key);
  }
  for (const [key, spec] of Object.entries(schema) as [string, FieldSpec<unknown>][]) {
    const raw = input[key];
    try {
      out[key] = raw === undefined ? spec.defaultValue() : spec.parse(raw, key);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${options.source}: ${error.message}`);
      throw error;
    }
  }
  return out as C;
}

/** The JSON object PEFT would write for `config` (all schema fields, PEFT's names). */
export function schemaToJson<C>(schema: ConfigSchema<C>, config: C): Record<string, PyJson> {
  const out: Record<string, PyJson> = {};
  for (const [key, spec] of Object.entries(schema) as [string, FieldSpec<unknown>][]) {
    out[key] = spec.toJson((config as Record<string, unknown>)[key]);
  }
  return out;
}
