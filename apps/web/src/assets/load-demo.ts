import { openSafetensorsBlob, PeftError } from '@peft/core';
import { loadPretrained } from '@peft/models';
import { parseJsonl } from '@peft/training';
import type { EmitRunEvent } from '../finetune/events.js';
import type { RunInputs } from '../finetune/run.js';
import { withReadProgress } from './read-progress.js';

/** Where the demo's files are served: a Hugging Face model folder's files and the two JSONL files. */
export interface DemoAssetUrls {
  config: string;
  tokenizer: string;
  tokenizerConfig: string;
  weights: string;
  train: string;
  eval: string;
}

/** A demo file could not be fetched or read. */
export class AssetError extends PeftError {
  readonly url: string;

  constructor(url: string, detail: string, options?: { cause?: unknown }) {
    super('ASSET_UNAVAILABLE', `${url}: ${detail}`, options);
    this.url = url;
  }
}

export type Fetch = (url: string) => Promise<Response>;

async function fetchOk(fetchFn: Fetch, url: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (cause) {
    throw new AssetError(url, `could not be fetched (${String(cause)})`, { cause });
  }
  if (!response.ok) throw new AssetError(url, `HTTP ${response.status} ${response.statusText}`.trim());
  return response;
}

async function fetchJson(fetchFn: Fetch, url: string): Promise<unknown> {
  const text = await (await fetchOk(fetchFn, url)).text();
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new AssetError(url, `is not valid JSON (${String(cause)})`, { cause });
  }
}

async function fetchText(fetchFn: Fetch, url: string): Promise<string> {
  return (await fetchOk(fetchFn, url)).text();
}

/**
 * Fetches the base model folder and the data, and builds the model: the weights are opened as a Blob,
 * so only the safetensors header is parsed up front and each tensor is read once, as it is loaded.
 */
export async function loadDemoAssets(
  urls: DemoAssetUrls,
  fetchFn: Fetch = fetch,
  emit: EmitRunEvent = () => {},
): Promise<RunInputs> {
  emit({ type: 'phase', text: 'Downloading the demo model and data' });
  const [config, tokenizer, tokenizerConfig, weights, trainText, evalText] = await Promise.all([
    fetchJson(fetchFn, urls.config),
    fetchJson(fetchFn, urls.tokenizer),
    fetchJson(fetchFn, urls.tokenizerConfig),
    fetchOk(fetchFn, urls.weights).then((r) => r.blob()),
    fetchText(fetchFn, urls.train),
    fetchText(fetchFn, urls.eval),
  ]);
  const train = parseJsonl(trainText, 'finetune-train.jsonl');
  const evalRows = parseJsonl(evalText, 'finetune-eval.jsonl');
  const weightsSource = await openSafetensorsBlob(weights, 'model.safetensors');
  const total = weightsSource.keys().length;
  emit({ type: 'phase', text: `Loading ${total} tensors of the demo model` });
  emit({ type: 'progress', done: 0, total, unit: 'tensors' });
  const source = withReadProgress(weightsSource, (done) => emit({ type: 'progress', done, total, unit: 'tensors' }));
  const loaded = await loadPretrained({ name: 'base-model', config, source, tokenizer, tokenizerConfig });
  if (!loaded.tokenizer) throw new AssetError(urls.tokenizer, 'no tokenizer was built');
  return { model: loaded.model, tokenizer: loaded.tokenizer, train, eval: evalRows };
}
