// An untrained adapter for a model folder, from a PEFT config, saved as a PEFT adapter folder.
import { readdir } from 'node:fs/promises';
import {
  ADAPTER_CONFIG_NAME,
  ADAPTER_WEIGHTS_NAME,
  type AdapterConfig,
  type PeftModel,
} from '@peft/adapter-bridge';
import { savePretrained } from '@peft/adapter-bridge/node';
import { ConfigError } from '@peft/core';
import { attachNewAdapter, RunRandomStream } from '../adapters.js';
import { type BackendOptions, ensureBackend, type MethodOptions, resolveAdapterConfig } from './finetune.js';
import { loadModelFolder } from './model-folder.js';

export interface InitAdapterOptions extends MethodOptions, BackendOptions {
  /** The Hugging Face model folder. */
  model: string;
  /** Where the adapter folder goes. */
  output: string;
  /** Take the adapter from a PEFT adapter_config.json (a path) or a config object, instead of the method options. */
  adapterConfig?: string | AdapterConfig;
  /** Seeds random initial weights (LoRA's A), so the same seed gives the same file. Default 0. */
  seed?: number;
  /** Replace an adapter already in the output folder. */
  overwrite?: boolean;
}

export interface InitAdapterReport {
  readonly peftType: string;
  readonly written: string[];
  readonly targetedLayers: number;
  readonly trainableParams: number;
  readonly parameterSummary: string;
}

/**
 * Injects an adapter into the model of `options.model` (PEFT's `get_peft_model`) and saves it as PEFT
 * does, ready to train here or in Python. An existing adapter in `output` is kept unless `overwrite`.
 */
export async function initAdapter(options: InitAdapterOptions): Promise<InitAdapterReport> {
  const config = await resolveAdapterConfig(options);
  const existing = await readdir(options.output).catch(() => [] as string[]);
  const clash = existing.filter((n) => n === ADAPTER_CONFIG_NAME || n === ADAPTER_WEIGHTS_NAME);
  if (clash.length > 0 && !options.overwrite) {
    throw new ConfigError(
      `${options.output} already holds an adapter (${clash.join(', ')}); pass --overwrite or choose another folder`,
    );
  }
  await ensureBackend(options);
  const base = await loadModelFolder(options.model);
  let peft: PeftModel | null = null;
  try {
    peft = attachNewAdapter(base.model, config, new RunRandomStream(options.seed ?? 0));
    const written = await savePretrained(peft, options.output);
    return {
      peftType: config.peft_type,
      written,
      targetedLayers: peft.adapterLayers().length,
      trainableParams: peft.parameterCounts().trainable,
      parameterSummary: peft.trainableParametersSummary(),
    };
  } finally {
    if (peft) peft.dispose();
    else base.model.dispose();
  }
}
