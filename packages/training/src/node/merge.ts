// Folding an adapter into its base model folder: a Hugging Face folder again, in the base's own
// format (a bitsandbytes 4-bit folder stays 4-bit, re-quantized, which is lossy).
import type { PeftModel } from '@peft/adapter-bridge';
import { isLinear, PeftError, type StateDict } from '@peft/core';
import { openCheckpointInput, writeCheckpointOutput } from '@peft/models/node';
import { loadAdapterFolder } from './adapters.js';
import { type BackendOptions, ensureBackend } from './finetune.js';
import { assertModelFolder, loadModelFolder } from './model-folder.js';

export interface MergeAdapterOptions extends BackendOptions {
  /** The base model folder the adapter was trained on. */
  model: string;
  /** The PEFT adapter folder. */
  adapter: string;
  /** The merged model folder (created; an existing one is replaced only once the new one is complete). */
  output: string;
  /** Replace an existing output folder even if it holds files that are not part of a model folder. */
  overwrite?: boolean;
}

export interface MergeReport {
  /** Every file of the output folder. */
  readonly written: string[];
  /** Layers whose weights changed (adapted layers and modules_to_save copies). */
  readonly mergedLayers: string[];
  /** Storage scheme of the merged layers, counted (e.g. { 'bnb4-nf4': 14 }). */
  readonly schemes: Readonly<Record<string, number>>;
  /** True when a quantized layer was re-quantized (its values rounded again). */
  readonly lossy: boolean;
}

/** A merge that left something other than a linear layer where an adapted layer was: a bug, said plainly. */
class MergeResultError extends PeftError {
  constructor(path: string, found: string) {
    super('MERGE_FAILED', `merge left ${path} as a ${found}, not a Linear; nothing was written`);
  }
}

/**
 * Merges the adapter folder `options.adapter` into the model folder `options.model` (PEFT's
 * `merge_and_unload`) and writes the result to `options.output`: the same files and shard layout, every
 * tensor the merge did not change copied byte for byte, the changed layers in their own format and dtype
 * (a bitsandbytes 4-bit layer is dequantized, summed with ΔW and re-quantized with its own settings), the
 * tokenizer and generation files alongside, and `tie_word_embeddings` turned off when the head was
 * trained in full. The folder is assembled in a staging folder, so a failure leaves `output` as it was;
 * an output that is or overlaps the model folder is refused.
 */
export async function mergeAdapter(options: MergeAdapterOptions): Promise<MergeReport> {
  await assertModelFolder(options.model);
  await ensureBackend(options);
  const base = await loadModelFolder(options.model);
  const { model } = base;
  let replacements: Map<string, StateDict>;
  const schemes: Record<string, number> = {};
  let peft: PeftModel | null = null;
  try {
    peft = await loadAdapterFolder(model, options.adapter, { modelName: options.model });
    const changed = [
      ...peft.adapterLayers().map(([p]) => p),
      ...peft.modulesToSaveWrappers().map(([p]) => p),
    ];
    peft.mergeAndUnload();
    replacements = new Map();
    for (const path of changed) {
      const leaf = model.getSubmodule(path);
      if (!isLinear(leaf)) throw new MergeResultError(path, leaf.constructor.name);
      replacements.set(path, leaf.layer.stateDict(`${path}.`));
      schemes[leaf.layer.scheme] = (schemes[leaf.layer.scheme] ?? 0) + 1;
    }
  } finally {
    // Disposing the PeftModel also frees adapter state outside the tree; it is safe after the unload.
    if (peft) peft.dispose();
    else model.dispose();
  }

  const input = await openCheckpointInput(options.model);
  try {
    const prefixes = [...replacements.keys()].map((p) => `${p}.`);
    const changedPrefix = (key: string) => prefixes.find((p) => key.startsWith(p));
    // A changed layer's entries go to the shard that held its weight; layers new to the files (a head
    // untied by the merge) go to the last shard.
    const homeOf = new Map<string, string>();
    for (const shard of input.shards) {
      for (const key of shard.keys) {
        const prefix = changedPrefix(key);
        if (prefix && !homeOf.has(prefix)) homeOf.set(prefix, shard.file);
      }
    }
    const lastShard = input.shards.at(-1)!.file;
    const written = await writeCheckpointOutput(
      input,
      options.output,
      async (shard) => {
        const dict: StateDict = new Map();
        for (const key of shard.keys) if (!changedPrefix(key)) dict.set(key, await input.source.get(key));
        for (const [path, entries] of replacements) {
          if ((homeOf.get(`${path}.`) ?? lastShard) !== shard.file) continue;
          for (const [key, value] of entries) dict.set(key, value);
        }
        return dict;
      },
      {
        overwrite: options.overwrite ?? false,
        transformConfig: (config) =>
          config['tie_word_embeddings'] === true && replacements.has('lm_head')
            ? { ...config, tie_word_embeddings: false }
            : config,
      },
    );
    const lossy = Object.keys(schemes).some((s) => s !== 'dense');
    return { written, mergedLayers: [...replacements.keys()], schemes, lossy };
  } finally {
    await input.close();
  }
}
