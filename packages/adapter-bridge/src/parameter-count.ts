import { isLinear, type Module } from '@peft/core';
import { isAdapterLayer } from './adapter-layer.js';
import { modelInfo } from './model-info.js';

export interface ParameterCounts {
  /** Elements of the variables an optimizer would update. */
  readonly trainable: number;
  /** Every parameter of the model: LOGICAL linear weights and biases (whatever their storage) plus all variables. */
  readonly all: number;
}

/**
 * Counts parameters the way PEFT's `get_nb_trainable_parameters` does: a 4-bit linear counts its
 * logical out x in weights, not its packed bytes; frozen buffers (VeRA's shared projections) are not
 * parameters. A base bias made trainable is counted once, and so is a tied output head.
 */
export function countParameters(model: Module): ParameterCounts {
  let trainable = 0;
  let all = 0;
  const trainedBiasOwners = new Set<Module>();
  for (const [, module] of model.namedModules()) {
    if (isAdapterLayer(module) && module.trainableBias) trainedBiasOwners.add(module.baseLayer);
  }
  const { tiedHead } = modelInfo(model);
  for (const [, module] of model.namedModules()) {
    // A tied head's weight is the embedding table, which is counted as a variable below.
    if (isLinear(module) && !(tiedHead && module.layer === tiedHead)) {
      all += module.inFeatures * module.outFeatures;
      if (module.layer.bias && !trainedBiasOwners.has(module)) all += module.outFeatures;
    }
    for (const [, variable] of module.ownNamedParameters()) {
      all += variable.size;
      if (variable.trainable) trainable += variable.size;
    }
  }
  return { trainable, all };
}

function withThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** PEFT's `print_trainable_parameters` line: `trainable params: X || all params: Y || trainable%: Z`. */
export function formatParameterSummary(counts: ParameterCounts): string {
  const percent = counts.all === 0 ? 0 : (100 * counts.trainable) / counts.all;
  return `trainable params: ${withThousands(counts.trainable)} || all params: ${withThousands(counts.all)} || trainable%: ${percent.toFixed(4)}`;
}
