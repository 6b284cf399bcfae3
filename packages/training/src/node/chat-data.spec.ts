import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setWarningHandler } from '@peft/adapter-bridge';
import { TextTokenizer } from '@peft/models';
import { writeRandomModel } from '@peft/models/node';
import '@peft/lora';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataFormatError } from '../jsonl.js';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { readDataset } from './dataset.js';
import { evaluateFolder } from './evaluate-folder.js';
import { finetune } from './finetune.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'chat');
const X = -100;

// Fixture ids (see chat-rows.spec.ts): 1 <|im_start|>, 2 <|im_end|>, 3 <|begin_of_text|>, 4 <|start_header_id|>,
// 5 <|end_header_id|>, 6 <|eot_id|>, 7 "\n", letters a=10 ... z=35.
const CONVERSATION = {
  messages: [
    { role: 'system', content: 's' },
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: 'yo' },
  ],
};

let dir: string;
beforeAll(async () => {
  await useCpuBackend();
  setWarningHandler(() => {});
  dir = await mkdtemp(join(tmpdir(), 'peft-chat-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tiny random Llama folder with the fixture tokenizer and the chat template of `template` ("chatml", "llama3"). */
async function modelFolder(name: string, template: 'chatml' | 'llama3' | null): Promise<string> {
  const folder = join(dir, name);
  await writeRandomModel(
    folder,
    {
      vocab_size: 79,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 64,
      bos_token_id: 1,
      eos_token_id: 2,
      initializer_range: 0.1,
      torch_dtype: 'float32',
    },
    { tokenizer: false, dtype: 'float32' },
  );
  await copyFile(join(FIXTURES, 'tokenizer.json'), join(folder, 'tokenizer.json'));
  if (template) {
    for (const file of await readdir(join(FIXTURES, template))) {
      await copyFile(join(FIXTURES, template, file), join(folder, file));
    }
  }
  return folder;
}

async function jsonl(name: string, rows: readonly unknown[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
  return file;
}

function fixtureTokenizer(template: 'chatml' | 'llama3'): TextTokenizer {
  const read = (path: string) => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as object;
  return new TextTokenizer(read('tokenizer.json'), read(`${template}/tokenizer_config.json`));
}

describe('chat data from a model folder', () => {
  it('readDataset renders with the folder chat_template.jinja and masks to the reply', async () => {
    const model = await modelFolder('llama3', 'llama3');
    const data = await jsonl('llama3.jsonl', [CONVERSATION]);
    const set = await readDataset(data, {
      tokenizer: fixtureTokenizer('llama3'),
      vocabSize: 79,
      maxLength: 64,
      eosTokenId: 6,
      modelDir: model,
    });
    // <|begin_of_text|>, system "s", user "hi", the assistant header, then "yo" <|eot_id|>: no EOS appended.
    const prompt = [3, 4, 28, 34, 28, 29, 14, 22, 5, 7, 7, 28, 6, 4, 30, 28, 14, 27, 5, 7, 7, 17, 18, 6];
    const header = [4, 10, 28, 28, 18, 28, 29, 10, 23, 29, 5, 7, 7];
    expect(set.examples).toEqual([
      {
        inputIds: [...prompt, ...header, 34, 24, 6],
        labels: [...new Array<number>(prompt.length + header.length).fill(X), 34, 24, 6],
      },
    ]);
  });

  it('a folder without a chat template is an error naming the data line and the folder', async () => {
    const model = await modelFolder('no-template', null);
    const data = await jsonl('no-template.jsonl', [{ text: 'hi' }, CONVERSATION]);
    const read = readDataset(data, {
      tokenizer: fixtureTokenizer('chatml'),
      vocabSize: 79,
      maxLength: 64,
      eosTokenId: 2,
      modelDir: model,
    });
    await expect(read).rejects.toThrow(DataFormatError);
    await expect(read).rejects.toThrow(
      new RegExp(
        `no-template\\.jsonl:2: a chat "messages" row needs the model's chat template, and ${model} has none`,
      ),
    );
  });

  it('finetune() trains a couple of steps on messages rows, and evaluateFolder counts the reply tokens only', async () => {
    const model = await modelFolder('chatml', 'chatml');
    const data = join(dir, 'chat-data');
    await mkdir(data);
    const second = {
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'ok' },
        { role: 'assistant', content: 'no' },
      ],
    };
    await writeFile(
      join(data, 'train.jsonl'),
      `${JSON.stringify(CONVERSATION)}\n${JSON.stringify(second)}\n`,
    );
    const output = join(dir, 'run');
    const summary = await finetune({
      model,
      data,
      output,
      method: 'lora',
      r: 2,
      steps: 2,
      batchSize: 2,
      seqLen: 48,
      learningRate: 0.01,
      evalEvery: 0,
      saveEvery: 0,
    });
    expect(summary.completed).toBe(true);
    expect(summary.step).toBe(2);
    expect(Number.isFinite(summary.lastLoss)).toBe(true);
    expect(await readdir(output)).toContain('adapter_model.safetensors');

    // Reply tokens of ROW 1: "y", "o", <|im_end|>; every token after the first without the mask: 36 - 1.
    const file = await jsonl('eval.jsonl', [CONVERSATION]);
    const masked = await evaluateFolder({ model, data: file, adapter: output, batchSize: 1, seqLen: 48 });
    expect(masked.tokens).toBe(3);
    const all = await evaluateFolder({
      model,
      data: file,
      batchSize: 1,
      seqLen: 48,
      assistantOnlyLoss: false,
    });
    expect(all.tokens).toBe(35);
  });
});
