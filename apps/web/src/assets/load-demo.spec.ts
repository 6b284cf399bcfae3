import { setupBackend } from '@peft/backends';
import { serializeSafetensors } from '@peft/core';
import { configToJson, createRandomModel, randomStateDict } from '@peft/models';
import { DataFormatError } from '@peft/training';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoFile, TINY_CONFIG } from '../test-support/tiny-demo.js';
import { AssetError, type DemoAssetUrls, type Fetch, loadDemoAssets } from './load-demo.js';

const URLS: DemoAssetUrls = {
  config: 'http://test/config.json',
  tokenizer: 'http://test/tokenizer.json',
  tokenizerConfig: 'http://test/tokenizer_config.json',
  weights: 'http://test/model.safetensors',
  train: 'http://test/train.jsonl',
  eval: 'http://test/eval.jsonl',
};

/** A server holding a small random model in Hugging Face layout and the demo's tokenizer and data. */
function fakeServer(overrides: Record<string, BodyInit | number | Error> = {}): Fetch {
  const files: Record<string, BodyInit | number | Error> = {
    [URLS.config]: JSON.stringify(configToJson(TINY_CONFIG)),
    [URLS.tokenizer]: demoFile('base-model/tokenizer.json'),
    [URLS.tokenizerConfig]: demoFile('base-model/tokenizer_config.json'),
    [URLS.weights]: serializeSafetensors(randomStateDict(TINY_CONFIG, 5), { format: 'pt' }) as BodyInit,
    [URLS.train]: demoFile('finetune-train.jsonl'),
    [URLS.eval]: demoFile('finetune-eval.jsonl'),
    ...overrides,
  };
  return async (url) => {
    const body = files[url];
    if (body instanceof Error) throw body;
    if (body === undefined || typeof body === 'number')
      return new Response('nope', { status: typeof body === 'number' ? body : 404, statusText: 'Not Found' });
    return new Response(body);
  };
}

describe('loadDemoAssets', () => {
  beforeAll(() => setupBackend('wasm'));

  it('builds the model, tokenizer and data from the served folder', async () => {
    const { model, tokenizer, train, eval: evalRows } = await loadDemoAssets(URLS, fakeServer());
    expect(train).toHaveLength(3000);
    expect(evalRows).toHaveLength(300);
    expect(tokenizer.encode('enrich:')[0]).toBe(1);
    // The same weights as the same random model built directly.
    const reference = await createRandomModel(TINY_CONFIG, 5);
    const ids = [[1, 40, 50, 60, 2]];
    const [a, b] = [model.loss({ inputIds: ids, labels: ids }), reference.loss({ inputIds: ids, labels: ids })];
    expect(a.dataSync()[0]).toBe(b.dataSync()[0]);
    tf.dispose([a, b]);
    model.dispose();
    reference.dispose();
  });

  it('names the file and the HTTP status of a missing file', async () => {
    const load = loadDemoAssets(URLS, fakeServer({ [URLS.weights]: 404 }));
    await expect(load).rejects.toThrow(AssetError);
    await expect(load).rejects.toThrow('http://test/model.safetensors: HTTP 404 Not Found');
  });

  it('names the file when the network fails or a JSON file is not JSON', async () => {
    await expect(loadDemoAssets(URLS, fakeServer({ [URLS.train]: new TypeError('offline') }))).rejects.toThrow(
      /http:\/\/test\/train\.jsonl: could not be fetched \(TypeError: offline\)/,
    );
    await expect(loadDemoAssets(URLS, fakeServer({ [URLS.config]: '<html>' }))).rejects.toThrow(
      /http:\/\/test\/config\.json: is not valid JSON/,
    );
  });

  it('reports a malformed data line with its file and line number', async () => {
    const load = loadDemoAssets(URLS, fakeServer({ [URLS.eval]: '{"text": "a: B"}\n{"text": 3}\n' }));
    await expect(load).rejects.toThrow(DataFormatError);
    await expect(load).rejects.toThrow(/finetune-eval\.jsonl:2:/);
  });

  it('rejects truncated weights with a safetensors error naming the file', async () => {
    const whole = serializeSafetensors(randomStateDict(TINY_CONFIG, 5), { format: 'pt' });
    await expect(
      loadDemoAssets(URLS, fakeServer({ [URLS.weights]: whole.subarray(0, whole.length - 100) as BodyInit })),
    ).rejects.toThrow(/model\.safetensors/);
  });
});
