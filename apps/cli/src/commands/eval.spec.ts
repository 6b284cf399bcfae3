import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TextTokenizer } from '@peft/models';
import { loadPretrainedFolder } from '@peft/models/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  SENTENCES,
  textRows,
  useBackendForTests,
  writeJsonl,
  writeTinyModel,
} from '../test-support/model-folder.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let modelDir: string;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  modelDir = await writeTinyModel(join(tmp.dir, 'model'), { seed: 4 });
});
afterEach(async () => {
  await tmp.cleanup();
});

/**
 * An independent reference: each example alone (no padding), float64 log-softmax over the logits,
 * every next-token loss summed; returns per-example sums and counts.
 */
async function referenceTokenLosses(
  dir: string,
  sequences: number[][],
): Promise<{ sum: number; count: number }[]> {
  const { model } = await loadPretrainedFolder(dir);
  try {
    return sequences.map((ids) => {
      const { logits } = model.forward({ inputIds: [ids] });
      const values = logits.dataSync();
      logits.dispose();
      const vocab = values.length / ids.length;
      let sum = 0;
      for (let t = 0; t + 1 < ids.length; t++) {
        const row = Array.from(values.subarray(t * vocab, (t + 1) * vocab));
        const max = Math.max(...row);
        const logSumExp = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        sum += logSumExp - row[ids[t + 1]!]!;
      }
      return { sum, count: ids.length - 1 };
    });
  } finally {
    model.dispose();
  }
}

describe('peft eval', () => {
  it('is the sum of every predicted token’s loss over their number, not a mean of batch means', async () => {
    // Lengths vary a lot, so batches of 2 weigh differently.
    const sentences = ['a.', SENTENCES[2]!, SENTENCES[0]!, 'we.', SENTENCES[3]!];
    const data = await writeJsonl(join(tmp.dir, 'eval.jsonl'), textRows(sentences));
    const run = await runPeft(
      'eval',
      modelDir,
      '--data',
      data,
      '--batch-size',
      '2',
      '--json',
      '--backend',
      'wasm',
    );
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);

    const { tokenizer } = await loadPretrainedFolder(modelDir).then((p) => {
      p.model.dispose();
      return p as { tokenizer: TextTokenizer };
    });
    const sequences = sentences.map((s) => [...tokenizer.encode(s), 2]);
    const perExample = await referenceTokenLosses(modelDir, sequences);
    const tokens = perExample.reduce((n, e) => n + e.count, 0);
    const loss = perExample.reduce((n, e) => n + e.sum, 0) / tokens;
    expect(result.tokens).toBe(tokens);
    expect(result.examples).toBe(5);
    expect(Math.abs(result.loss - loss) / loss).toBeLessThan(1e-5);
    expect(result.perplexity).toBeCloseTo(Math.exp(result.loss), 10);
    // The mean of the three batch means differs by over ten times the tolerance above, which can tell them apart.
    const batchMeans = [perExample.slice(0, 2), perExample.slice(2, 4), perExample.slice(4)].map(
      (b) => b.reduce((n, e) => n + e.sum, 0) / b.reduce((n, e) => n + e.count, 0),
    );
    const meanOfMeans = batchMeans.reduce((a, b) => a + b, 0) / 3;
    expect(Math.abs(meanOfMeans - loss) / loss).toBeGreaterThan(1e-4);

    const text = await runPeft('eval', modelDir, '--data', data, '--batch-size', '2', '--backend', 'wasm');
    expect(text.stdout).toMatch(
      new RegExp(
        `^loss ${result.loss.toFixed(6)}  perplexity \\d+\\.\\d{4}  \\(${tokens} predicted tokens in 5 examples\\)`,
      ),
    );
  });

  it('applies an adapter; one for another model is refused with a message that says so', async () => {
    const data = await writeJsonl(join(tmp.dir, 'data.jsonl'), textRows());
    const adapter = join(tmp.dir, 'adapter');
    const trained = await runPeft(
      'finetune',
      modelDir,
      '--data',
      data,
      '--eval-data',
      data,
      '-o',
      adapter,
      '--method',
      'lora',
      '--target-modules',
      'all-linear',
      '--steps',
      '3',
      '--lr',
      '0.05',
      '--backend',
      'wasm',
      '--json',
    );
    expect(trained.code).toBe(0);
    const finetuneEval = JSON.parse(trained.stdout).eval;
    const withAdapter = await runPeft(
      'eval',
      modelDir,
      '--data',
      data,
      '--adapter',
      adapter,
      '--json',
      '--backend',
      'wasm',
    );
    expect(withAdapter.code).toBe(0);
    // The same number the training run reported for its final adapter.
    expect(JSON.parse(withAdapter.stdout).loss).toBe(finetuneEval.loss);
    const base = JSON.parse(
      (await runPeft('eval', modelDir, '--data', data, '--json', '--backend', 'wasm')).stdout,
    );
    expect(base.loss).not.toBe(finetuneEval.loss);

    const other = await writeTinyModel(join(tmp.dir, 'other'), { config: { hidden_size: 48 } });
    const refused = await runPeft('eval', other, '--data', data, '--adapter', adapter, '--backend', 'wasm');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`the adapter in ${adapter} does not fit the model ${other}`);
    expect(refused.stderr).toContain(`(the adapter was made for ${modelDir})`);
    expect(refused.stderr).toMatch(/lora_A\.weight/);
  });

  it('names the file and line of bad data, and a missing file or folder', async () => {
    const bad = await writeJsonl(join(tmp.dir, 'bad.jsonl'), [{ text: 'ok.' }, { txt: 'no' }]);
    const run = await runPeft('eval', modelDir, '--data', bad, '--backend', 'wasm');
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /bad\.jsonl:2: the row matches no accepted format: it has "txt"; give \{"text": \.\.\.\}/,
    );
    expect(
      (await runPeft('eval', modelDir, '--data', join(tmp.dir, 'none.jsonl'), '--backend', 'wasm')).code,
    ).toBe(3);
    const noAdapter = await runPeft(
      'eval',
      modelDir,
      '--data',
      bad,
      '--adapter',
      join(tmp.dir, 'nope'),
      '--backend',
      'wasm',
    );
    expect(noAdapter.code).toBe(3);
    const oneToken = await writeJsonl(join(tmp.dir, 'short.jsonl'), [{ input_ids: [1] }]);
    const nothing = await runPeft('eval', modelDir, '--data', oneToken, '--backend', 'wasm');
    expect(nothing.code).toBe(3);
    expect(nothing.stderr).toContain('nothing to evaluate');
    expect((await runPeft('eval', modelDir)).code).toBe(2);
    const help = await runPeft('eval', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: peft eval [options] <model-dir>');
  });
  it("takes chat rows with the model's chat template, the loss on the reply as for a prompt-completion row", async () => {
    // BOS, the user's text, then the reply and EOS: what {"prompt": "hi", "completion": "yo"} encodes.
    await writeFile(
      join(modelDir, 'tokenizer_config.json'),
      JSON.stringify({
        add_bos_token: true,
        bos_token: '<s>',
        eos_token: '</s>',
        chat_template:
          "{{ bos_token }}{% for m in messages %}{% if m.role == 'assistant' %}{{ m.content + eos_token }}{% else %}{{ m.content }}{% endif %}{% endfor %}",
      }),
    );
    const chat = await writeJsonl(join(tmp.dir, 'chat.jsonl'), [
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'yo' },
        ],
      },
    ]);
    const pc = await writeJsonl(join(tmp.dir, 'pc.jsonl'), [{ prompt: 'hi', completion: 'yo' }]);
    const evalJson = async (...args: string[]) => {
      const run = await runPeft('eval', modelDir, '--json', '--backend', 'cpu', '--data', ...args);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { loss: number; tokens: number };
    };
    // [<s>, ▁, h, i, y, o, </s>]: "y", "o" and "</s>" are learned; without the mask, all 6 after the first.
    const fromChat = await evalJson(chat);
    const fromPrompt = await evalJson(pc);
    expect(fromChat.tokens).toBe(3);
    expect(fromPrompt).toEqual(fromChat);
    expect((await evalJson(chat, '--no-assistant-only-loss')).tokens).toBe(6);
  });
});
