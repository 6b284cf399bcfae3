// The demo's files live in apps/cli/assets/demo (one copy in git, shared with `peft demo`). Importing
// them with `?url` makes Vite serve them in dev and copy them, content-hashed, into the build.
import config from '../../../cli/assets/demo/base-model/config.json?url';
import weights from '../../../cli/assets/demo/base-model/model.safetensors?url';
import tokenizer from '../../../cli/assets/demo/base-model/tokenizer.json?url';
import tokenizerConfig from '../../../cli/assets/demo/base-model/tokenizer_config.json?url';
import evalData from '../../../cli/assets/demo/finetune-eval.jsonl?url';
import train from '../../../cli/assets/demo/finetune-train.jsonl?url';
import type { DemoAssetUrls } from './load-demo.js';

/** Absolute URLs (a worker resolves relative ones against its own script, not the page). */
export function demoAssetUrls(base: string): DemoAssetUrls {
  const at = (url: string) => new URL(url, base).href;
  return {
    config: at(config),
    tokenizer: at(tokenizer),
    tokenizerConfig: at(tokenizerConfig),
    weights: at(weights),
    train: at(train),
    eval: at(evalData),
  };
}
