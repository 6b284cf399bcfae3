// An untrained adapter for a model folder, from a PEFT config, saved as a PEFT adapter folder.
import { readdir } from 'node:fs/promises';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterConfig,
  adapterRandomState,
  type PeftModel,
  restoreAdapterRandom,
  seedAdapterRandom,
} from '@peft/adapter-bridge';
import { savePretrained } from '@peft/adapter-bridge/node';
import { ConfigError } from '@peft/core';
import { attachNewAdapter } from './attach.js';
import { loadBaseModel } from './base-model.js';

export interface InitAdapterOptions {
  /** Seeds random initial weights (LoRA's A), so the same seed gives the same file. Default 0. */
  seed?: number;
  /** Replace an adapter already in the output folder. */
  overwrite?: boolean;
}

export interface InitAdapterReport {
  readonly written: string[];
  readonly targetedLayers: number;
  readonly trainableParams: number;
  readonly parameterSummary: string;
}

/**
 * Injects `config` into the model of `modelDir` (PEFT's `get_peft_model`) and saves the adapter as PEFT
 * does, ready to train here or in Python. An existing adapter in `outputDir` is kept unless `overwrite`.
 */
export async function initAdapter(
  modelDir: string,
  config: AdapterConfig,
  outputDir: string,
  options: InitAdapterOptions = {},
): Promise<InitAdapterReport> {
  const existing = await readdir(outputDir).catch(() => [] as string[]);
  const clash = existing.filter((n) => n === ADAPTER_CONFIG_NAME || n === ADAPTER_WEIGHTS_NAME);
  if (clash.length > 0 && !options.overwrite) {
    throw new ConfigError(
      `${outputDir} already holds an adapter (${clash.join(', ')}); pass --overwrite or choose another folder`,
    );
  }
  const base = await loadBaseModel(modelDir);
  const previous = adapterRandomState();
  let peft: PeftModel | null = null;
  try {
    seedAdapterRandom(options.seed ?? 0);
    peft = attachNewAdapter(base.model, config);
    const written = await savePretrained(peft, outputDir);
    return {
      written,
      targetedLayers: peft.adapterLayers().length,
      trainableParams: peft.parameterCounts().trainable,
      parameterSummary: peft.trainableParametersSummary(),
    };
  } finally {
    restoreAdapterRandom(previous);
    if (peft) peft.dispose();
    else base.model.dispose();
  }
}
