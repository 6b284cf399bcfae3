import { setupBackend } from '@peft/backends';
import { getQuantizer, quantizeLinears, serializeSafetensors } from '@peft/core';
import { configToJson, createRandomModel, type LlamaForCausalLM, modelStateDict, randomStateDict } from '@peft/models';
import '@peft/quant-bnb4';
import { DataFormatError } from '@peft/training';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../finetune/events.js';
import { demoFile, TINY_CONFIG } from '../test-support/tiny-demo.js';
import { loadOwnFiles, type OwnFiles } from './load-own.js';

beforeAll(() => setupBackend('wasm'));

const blob = (name: string, content: BlobPart) => ({ name, blob: new Blob([content]) });

function folder(weights: Uint8Array): OwnFiles['model'] {
  return [
    blob('mine/config.json', JSON.stringify(configToJson(TINY_CONFIG))),
    blob('mine/model.safetensors', weights as BlobPart),
    blob('mine/tokenizer.json', demoFile('base-model/tokenizer.json')),
    blob('mine/tokenizer_config.json', demoFile('base-model/tokenizer_config.json')),
    blob('mine/README.md', 'ignored'),
  ];
}

const TRAIN = blob('train.jsonl', '{"prompt": "enrich:", "completion": " EH0 N R IH1 CH"}\n{"text": "sugar: SH UH1 G ER0"}\n');

function schemes(model: LlamaForCausalLM): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, module] of model.namedModules()) {
    const layer = (module as { layer?: { scheme?: string } }).layer;
    if (layer?.scheme) counts[layer.scheme] = (counts[layer.scheme] ?? 0) + 1;
  }
  return counts;
}

describe('loadOwnFiles', () => {
  it('loads a dense folder, quantizing each linear but the head as it is read, and reports every tensor', async () => {
    const events: RunEvent[] = [];
    const weights = serializeSafetensors(randomStateDict(TINY_CONFIG, 5), { format: 'pt' });
    const inputs = await loadOwnFiles({ model: folder(weights), train: TRAIN, eval: null }, 'nf4', (e) =>
      events.push(e),
    );
    try {
      const linears = 7 * TINY_CONFIG.numHiddenLayers;
      expect(schemes(inputs.model)).toEqual({ 'bnb4-nf4': linears, dense: 1 });
      expect(inputs.quantized!.paths).toHaveLength(linears);
      expect(inputs.quantized!.quantizedBytes).toBeLessThan(inputs.quantized!.denseBytes / 5);
      expect(inputs.train).toHaveLength(2);
      expect(inputs.tokenizer!.encode('enrich:').length).toBeGreaterThan(1);
      const tensors = 3 + 9 * TINY_CONFIG.numHiddenLayers;
      const progress = events.filter((e) => e.type === 'progress').map((e) => e.done);
      expect(progress).toEqual(Array.from({ length: tensors + 1 }, (_, i) => i));
      expect(events.filter((e) => e.type === 'phase').map((e) => e.text)).toEqual([
        'Reading train.jsonl',
        'Opening the model folder',
        `Loading ${tensors} tensors of mine, quantizing its linear layers to NF4`,
      ]);
    } finally {
      inputs.model.dispose();
    }
  });

  it('keeps a *-bnb-4bit folder as stored: its 4-bit layers are loaded, not quantized again', async () => {
    const source = await createRandomModel(TINY_CONFIG, 5);
    quantizeLinears(source, getQuantizer('nf4'), { blocksize: 64, doubleQuant: true });
    const weights = serializeSafetensors(modelStateDict(source).tensors, { format: 'pt' });
    const ids = tf.tensor2d([[1, 40, 41, 42]], [1, 4], 'int32');
    const expected = source.loss({ inputIds: ids, attentionMask: tf.onesLike(ids), labels: ids });
    source.dispose();
    const inputs = await loadOwnFiles({ model: folder(weights), train: TRAIN, eval: TRAIN }, 'nf4', () => {});
    try {
      expect(schemes(inputs.model)).toEqual({ 'bnb4-nf4': 7 * TINY_CONFIG.numHiddenLayers, dense: 1 });
      expect(inputs.quantized!.paths).toEqual([]);
      expect(inputs.eval).toHaveLength(2);
      const loss = inputs.model.loss({ inputIds: ids, attentionMask: tf.onesLike(ids), labels: ids });
      expect(loss.dataSync()[0]).toBe(expected.dataSync()[0]);
      tf.dispose([loss, expected, ids]);
    } finally {
      inputs.model.dispose();
    }
  });

  it('names a bad data line before the model is loaded, and refuses a folder without config.json', async () => {
    const weights = serializeSafetensors(randomStateDict(TINY_CONFIG, 5), { format: 'pt' });
    const bad = blob('train.jsonl', '{"text": "ok"}\n{"txet": "typo"}\n');
    await expect(loadOwnFiles({ model: folder(weights), train: bad, eval: null }, 'none', () => {})).rejects.toThrow(
      DataFormatError,
    );
    const noConfig = folder(weights).filter((f) => !f.name.endsWith('/config.json'));
    await expect(loadOwnFiles({ model: noConfig, train: TRAIN, eval: null }, 'none', () => {})).rejects.toThrow(
      /mine has no config\.json/,
    );
  });
});
