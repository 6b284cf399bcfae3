// Folding an adapter into its base model folder: a Hugging Face folder again, in the base's own
// format (a bitsandbytes 4-bit folder stays 4-bit, re-quantized, which is lossy).
import type { PeftModel } from '@peft/adapter-bridge';
import { isLinear, type StateDict } from '@peft/core';
import { assertModelFolder, loadAdapterFolder, loadModelFolder } from '@peft/training/node';
import { openCheckpointInput, writeCheckpointOutput } from '../commands/checkpoint-io.js';

export interface MergeReport {
  readonly written: string[];
  /** Layers whose weights changed (adapted layers and modules_to_save copies). */
  readonly mergedLayers: string[];
  /** Storage scheme of the merged layers, counted (e.g. { 'bnb4-nf4': 14 }). */
  readonly schemes: Readonly<Record<string, number>>;
  /** True when a quantized layer was re-quantized (its values rounded again). */
  readonly lossy: boolean;
}

/**
 * Merges the adapter in `adapterDir` into the model of `modelDir` (PEFT's `merge_and_unload`) and writes
 * the result to `outputDir`: the same files and shard layout, every tensor the merge did not change
 * copied byte for byte, the changed layers in their own format and dtype, the tokenizer and generation
 * files alongside. The folder is assembled in a staging folder, so a failure leaves `outputDir` as it was.
 */
export async function mergeAdapterIntoFolder(
  modelDir: string,
  adapterDir: string,
  outputDir: string,
): Promise<MergeReport> {
  await assertModelFolder(modelDir);
  const base = await loadModelFolder(modelDir);
  const { model } = base;
  let replacements: Map<string, StateDict>;
  const schemes: Record<string, number> = {};
  let peft: PeftModel | null = null;
  try {
    peft = await loadAdapterFolder(model, adapterDir, { modelName: modelDir });
    const changed = [
      ...peft.adapterLayers().map(([p]) => p),
      ...peft.modulesToSaveWrappers().map(([p]) => p),
    ];
    peft.mergeAndUnload();
    replacements = new Map();
    for (const path of changed) {
      const leaf = model.getSubmodule(path);
      if (!isLinear(leaf)) throw new Error(`merge left ${path} as a ${leaf.constructor.name}, not a Linear`);
      replacements.set(path, leaf.layer.stateDict(`${path}.`));
      schemes[leaf.layer.scheme] = (schemes[leaf.layer.scheme] ?? 0) + 1;
    }
  } finally {
    // Disposing the PeftModel also frees adapter state outside the tree; it is safe after the unload.
    if (peft) peft.dispose();
    else model.dispose();
  }

  const input = await openCheckpointInput(modelDir);
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
      outputDir,
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
