import { ConfigError } from '@peft/core';

/** The `rope_scaling` types computed here exactly as transformers computes them. */
export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3'] as const;

/** A validated `rope_scaling` (or transformers 5 `rope_parameters`) entry. */
export type RopeScaling =
  | { readonly type: 'default' }
  | { readonly type: 'linear'; readonly factor: number }
  | { readonly type: 'dynamic'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/**
 * Reads `rope_scaling`. The type is under `rope_type`, or `type` in older files; a missing or null
 * entry is plain RoPE. Any other type (yarn, longrope, ...) is a `ConfigError` rather than a model
 * that silently computes different positions.
 */
export function parseRopeScaling(
  value: unknown,
  context: { where: string; maxPositionEmbeddings: number },
): RopeScaling {
  const { where } = context;
  if (value === undefined || value === null) return { type: 'default' };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${where}: rope_scaling must be an object or null, got ${JSON.stringify(value)}`);
  }
  const entry = value as Record<string, unknown>;
  const type = entry['rope_type'] ?? entry['type'] ?? 'default';
  const number = (name: string): number => {
    const v = entry[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(
        `${where}: rope_scaling "${String(type)}" needs a positive number "${name}", got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: number('factor') };
    case 'dynamic':
      return { type: 'dynamic', factor: number('factor') };
    case 'llama3': {
      const scaling = {
        type: 'llama3' as const,
        factor: number('factor'),
        lowFreqFactor: number('low_freq_factor'),
        highFreqFactor: number('high_freq_factor'),
        originalMaxPositionEmbeddings: number('original_max_position_embeddings'),
      };
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
        throw new ConfigError(`${where}: rope_scaling llama3 needs high_freq_factor > low_freq_factor`);
      }
      return scaling;
    }
    default:
      throw new ConfigError(
        `${where}: rope_scaling type ${JSON.stringify(type)} is not supported; supported: ${SUPPORTED_ROPE_TYPES.join(', ')}`,
      );
  }
}
