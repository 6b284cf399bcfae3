// The adapter a page run trains, from the form: the method, its rank and its other options as typed.
import {
  type AdapterConfig,
  adapterConfigFromOptions,
  methodByName,
  methodOptionSpecs,
} from '@peft/adapter-bridge';
import { ConfigError, parseOptionValue } from '@peft/core';
import '@peft/lora'; // registers LoRA
import '@peft/vera'; // registers VeRA
import type { RunOptions } from '../options.js';

/**
 * `name=value` pairs separated by spaces, each value parsed by the method's spec for that option
 *.
 */
export function parseMethodOptions(method: string, text: string): Record<string, unknown> {
  const specs = new Map(methodOptionSpecs(methodByName(method)).map((spec) => [spec.name, spec]));
  const options: Record<string, unknown> = {};
  for (const pair of text.split(/\s+/).filter((part) => part !== '')) {
    const equals = pair.indexOf('=');
    if (equals <= 0) {
      throw new ConfigError(`method options: "${pair}" is not name=value (e.g. loraAlpha=16 dropout=0.05)`);
    }
    const name = pair.slice(0, equals);
    const spec = specs.get(name);
    if (!spec) {
      throw new ConfigError(
        `method options: ${method} has no option "${name}"; its options are ${[...specs.keys()].join(', ')}`,
      );
    }
    options[name] = parseOptionValue(spec, pair.slice(equals + 1));
  }
  return options;
}

/**
 * The run's adapter config: the method's defaults, every linear layer but the head as targets, the form's rank,
 * VeRA's projections seeded with the run's seed, then the typed options on top.
 */
export function pageAdapterConfig(
  options: Pick<RunOptions, 'method' | 'r' | 'methodOptions' | 'seed'>,
): AdapterConfig {
  const typed = parseMethodOptions(options.method, options.methodOptions);
  return adapterConfigFromOptions(options.method, {
    targetModules: 'all-linear',
    r: options.r,
    ...(options.method === 'vera' ? { projectionPrngKey: options.seed } : {}),
    ...typed,
  });
}
