import { ChatTemplate, DataFormatError, parseDataRows } from '@peft/training';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, type RunOptions } from '../options.js';
import { demoTokenizer, TINY_CONFIG } from '../test-support/tiny-demo.js';
import { ownRunData } from './own-data.js';
import type { OwnRunInputs } from './run.js';
import { runArguments } from './run-arguments.js';

const OPTIONS: RunOptions = { ...DEFAULT_OPTIONS, evalRows: 2, seqLen: 32 };
const args = runArguments(OPTIONS, TINY_CONFIG.maxPositionEmbeddings);
const tokenizer = demoTokenizer();
const model = { config: TINY_CONFIG } as OwnRunInputs['model'];

function inputs(train: string, evalText: string | null = null): OwnRunInputs {
  return {
    model,
    tokenizer,
    train: parseDataRows(train, 'train.jsonl'),
    eval: evalText === null ? null : parseDataRows(evalText, 'valid.jsonl'),
    trainName: 'train.jsonl',
    evalName: evalText === null ? null : 'valid.jsonl',
    quantized: null,
    chatTemplate: null,
  };
}

/** A template that writes "role: content" lines and prompts with "assistant: ". */
const ROLE_LINES = ChatTemplate.fromFiles({
  tokenizerConfig: {
    chat_template:
      '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}',
  },
  where: 'tokenizer_config.json',
})!;

describe('the rows of your own data file', () => {
  it('tokenizes text, prompt-completion (prompt masked) and token-id rows as peft finetune does, with EOS', () => {
    const data = ownRunData(
      inputs(
        [
          '{"text": "hello world"}',
          '{"prompt": "enrich:", "completion": " EH0 N R IH1 CH"}',
          '{"input_ids": [1, 5, 6, 2]}',
          '{"input_ids": [1]}',
        ].join('\n'),
      ),
      OPTIONS,
      args,
    );
    // The one-token row predicts nothing and is left out.
    expect(data.train).toHaveLength(3);
    const [text, pc, ids] = data.train as { inputIds: number[]; labels?: number[] }[];
    expect(text!.inputIds).toEqual([...tokenizer.encode('hello world'), 2]);
    const promptLength = tokenizer.encode('enrich:').length;
    expect(pc!.inputIds).toEqual([...tokenizer.encode('enrich: EH0 N R IH1 CH'), 2]);
    expect(pc!.labels!.slice(0, promptLength).every((l) => l === -100)).toBe(true);
    expect(pc!.labels!.slice(promptLength)).toEqual(pc!.inputIds.slice(promptLength));
    expect(ids!.inputIds).toEqual([1, 5, 6, 2]);
    // No held-out file: the loss is measured on the first evalRows training rows, and the page says so.
    expect(data.heldOut).toEqual(data.train.slice(0, 2));
    expect(data.heldOutName).toBe('train.jsonl (no held-out file)');
    // The first prompt row is generated from, its completion shown as expected.
    expect(data.prompts).toEqual([{ word: 'enrich:', prompt: 'enrich:', expected: 'EH0 N R IH1 CH' }]);
  });

  it('measures the held-out file when one is given, and the form prompt wins over the rows', () => {
    const data = ownRunData(
      inputs('{"text": "a b c"}\n', '{"text": "d e"}\n{"text": "f g"}\n{"text": "h i"}\n'),
      { ...OPTIONS, prompt: 'Once upon' },
      args,
    );
    expect(data.heldOut).toHaveLength(2);
    expect(data.heldOutName).toBe('valid.jsonl');
    expect(data.prompts).toEqual([{ word: 'Once upon', prompt: 'Once upon', expected: '' }]);
  });

  it('refuses text rows without a tokenizer, and token ids outside the vocabulary, naming file and line', () => {
    const noTokenizer = { ...inputs('{"input_ids": [1, 2]}\n{"text": "x"}\n'), tokenizer: null };
    expect(() => ownRunData(noTokenizer, OPTIONS, args)).toThrow(DataFormatError);
    expect(() => ownRunData(noTokenizer, OPTIONS, args)).toThrow(
      /train\.jsonl:2: a "text" row needs the model folder's tokenizer\.json/,
    );
    expect(() => ownRunData(inputs('{"input_ids": [1, 5000]}\n'), OPTIONS, args)).toThrow(
      /train\.jsonl:1: token id 5000 is outside the vocabulary \(1024\)/,
    );
    expect(() => ownRunData(inputs('{"input_ids": [1]}\n'), OPTIONS, args)).toThrow(
      /train\.jsonl: 1 of 1 rows \(line 1\) have fewer than 2 tokens.*nothing to evaluate or train on/,
    );
  });

  it("renders chat rows with the folder's chat template and learns the assistant turn only", () => {
    const row =
      '{"messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "well met"}]}';
    const data = ownRunData({ ...inputs(`${row}\n`), chatTemplate: ROLE_LINES }, OPTIONS, args);
    const [chat] = data.train as { inputIds: number[]; labels?: number[] }[];
    const plain = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
    // The rendered conversation, as the template writes it, with no BOS or EOS added.
    expect(chat!.inputIds).toEqual(plain('user: hi there\nassistant: well met\n'));
    // Everything up to the generation prompt is context; the reply (to the end of its turn) is learned.
    const context = plain('user: hi there\nassistant: ').length;
    expect(chat!.labels!.slice(0, context).every((l) => l === -100)).toBe(true);
    expect(chat!.labels!.slice(context)).toEqual(chat!.inputIds.slice(context));
    expect(() => ownRunData(inputs(`${row}\n`), OPTIONS, args)).toThrow(
      /train\.jsonl:1: a chat "messages" row needs the model's chat template, and the chosen model folder has none/,
    );
  });
});
