import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/demo/assets.js and src/demo/assets.ts both sit two levels below the app folder.
const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The demo's embedded files: a small pretrained Llama (HF layout) and the fine-tuning data. */
export const DEMO_ASSETS = {
  baseModel: join(appRoot, 'assets', 'demo', 'base-model'),
  trainData: join(appRoot, 'assets', 'demo', 'finetune-train.jsonl'),
  evalData: join(appRoot, 'assets', 'demo', 'finetune-eval.jsonl'),
};
