import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TextTokenizer } from '@peft/models';
import { describe, expect, it } from 'vitest';
import { ChatTemplate, ChatTemplateError } from './chat-template.js';
import { type ChatOptions, DataFormatError, parseDataRows, tokenizeExamples } from './jsonl.js';

// The fixture tokenizer (fixtures/chat/tokenizer.json) has no merges, so every character is one token:
// 0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>, 3 <|begin_of_text|>, 4 <|start_header_id|>,
// 5 <|end_header_id|>, 6 <|eot_id|>, 7 "\n", 8 " ", 9 <unk>, then a=10 ... z=35 (a letter is its
// alphabet index + 10: e=14, h=17, i=18, k=20, m=22, n=23, o=24, r=27, s=28, t=29, u=30, y=34).
const FIXTURES = join(import.meta.dirname, 'fixtures', 'chat');
const readJson = (path: string) => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as object;
const tokenizerJson = readJson('tokenizer.json');
const chatmlConfig = readJson('chatml/tokenizer_config.json');
const tokenizer = new TextTokenizer(tokenizerJson, chatmlConfig);
const encodeChat = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });

const chatml = ChatTemplate.fromFiles({ tokenizerConfig: chatmlConfig, tokenizerJson, where: 'chatml' })!;
const llama3 = ChatTemplate.fromFiles({
  tokenizerConfig: readJson('llama3/tokenizer_config.json'),
  tokenizerJson,
  jinja: readFileSync(join(FIXTURES, 'llama3', 'chat_template.jinja'), 'utf8'),
  where: 'llama3/chat_template.jinja',
})!;

const X = -100;
const ignored = (n: number) => new Array<number>(n).fill(X);

// Hand-tokenized ChatML blocks ("<|im_start|>" role "\n" content "<|im_end|>" "\n").
const SYSTEM_S = [1, 28, 34, 28, 29, 14, 22, 7, 28, 2, 7]; // system / "s"
const USER_HI = [1, 30, 28, 14, 27, 7, 17, 18, 2, 7]; // user / "hi"
const USER_OK = [1, 30, 28, 14, 27, 7, 24, 20, 2, 7]; // user / "ok"
const ASSISTANT_HEADER = [1, 10, 28, 28, 18, 28, 29, 10, 23, 29, 7]; // "<|im_start|>assistant\n"

function chatExamples(
  jsonl: string,
  chat: Partial<ChatOptions> & { template: ChatTemplate },
  maxLength = 128,
) {
  return tokenizeExamples(parseDataRows(jsonl, 'chat.jsonl'), (t) => [99, ...encodeChat(t)], {
    maxLength,
    source: 'chat.jsonl',
    eosTokenId: 0,
    chat: { encode: encodeChat, ...chat },
  });
}

const ROW_1 =
  '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}';

describe('ChatML (SmolLM2-Instruct template) messages', () => {
  it('render as transformers renders them', () => {
    const [row] = parseDataRows(ROW_1);
    expect(chatml.render((row as { messages: never[] }).messages)).toBe(
      '<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n',
    );
  });

  it('learn the assistant content and its <|im_end|>, not the prompt, the header or the newline after', () => {
    const [example] = chatExamples(ROW_1, { template: chatml });
    expect(example).toEqual({
      inputIds: [...SYSTEM_S, ...USER_HI, ...ASSISTANT_HEADER, 34, 24, 2, 7],
      labels: [...ignored(11 + 10 + 11), 34, 24, 2, X],
    });
  });

  it('learn every assistant turn of a multi-turn conversation', () => {
    const row =
      '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "ok"}, {"role": "assistant", "content": "no"}]}';
    const [example] = chatExamples(row, { template: chatml });
    expect(example).toEqual({
      inputIds: [
        ...SYSTEM_S,
        ...USER_HI,
        ...ASSISTANT_HEADER,
        34,
        24,
        2,
        7,
        ...USER_OK,
        ...ASSISTANT_HEADER,
        23,
        24,
        2,
        7,
      ],
      labels: [...ignored(32), 34, 24, 2, X, ...ignored(10 + 11), 23, 24, 2, X],
    });
  });

  it('get the default system prompt when they have none, outside the loss', () => {
    // Independent of the tokenizer: the fixture's ids by character (" " 8, "," 63, a-z 10.., A-Z 36..).
    const ids = (text: string) =>
      [...text].map((c) =>
        c === ' ' ? 8 : c === ',' ? 63 : c >= 'a' ? c.charCodeAt(0) - 87 : c.charCodeAt(0) - 29,
      );
    const system = [
      1,
      ...ids('system'),
      7,
      ...ids('You are a helpful AI assistant named SmolLM, trained by Hugging Face'),
      2,
      7,
    ];
    const [example] = chatExamples(
      '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
      { template: chatml },
    );
    expect(example).toEqual({
      inputIds: [...system, ...USER_HI, ...ASSISTANT_HEADER, 34, 24, 2, 7],
      labels: [...ignored(system.length + 10 + 11), 34, 24, 2, X],
    });
    // Opening with the assistant, the system prompt comes before it only in the whole conversation's render.
    expect(() =>
      chatExamples('{"messages": [{"role": "assistant", "content": "yo"}]}', { template: chatml }),
    ).toThrow(
      /^chat\.jsonl:1: chatml: the chat template renders the conversation before it \(message 1, an assistant turn\) differently/,
    );
  });

  it('learn every token without the assistant-only loss (no EOS appended: the template ends turns)', () => {
    const [example] = chatExamples(ROW_1, { template: chatml, assistantOnlyLoss: false });
    expect(example).toEqual({ inputIds: [...SYSTEM_S, ...USER_HI, ...ASSISTANT_HEADER, 34, 24, 2, 7] });
  });

  it('cut at maxLength inside a reply keep what fits; a reply wholly cut away is an error naming the line', () => {
    const [cut] = chatExamples(ROW_1, { template: chatml }, 33);
    expect(cut).toEqual({
      inputIds: [...SYSTEM_S, ...USER_HI, ...ASSISTANT_HEADER, 34],
      labels: [...ignored(32), 34],
    });
    const tooShort = () => chatExamples(`\n${ROW_1}`, { template: chatml }, 32);
    expect(tooShort).toThrow(DataFormatError);
    expect(tooShort).toThrow(
      /^chat\.jsonl:2: the conversation before the first assistant reply takes all 32 tokens .* none of the reply is left to learn/,
    );
  });

  it('without an assistant message are an error under the assistant-only loss', () => {
    expect(() =>
      chatExamples('{"messages": [{"role": "user", "content": "hi"}]}', { template: chatml }),
    ).toThrow(/^chat\.jsonl:1: the conversation has no "assistant" message.*--no-assistant-only-loss/);
  });
});

describe('Llama 3 template (from chat_template.jinja, with bos_token)', () => {
  it('learns the trimmed reply and <|eot_id|>', () => {
    const row =
      '{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo "}]}';
    const [example] = chatExamples(row, { template: llama3 });
    // <|begin_of_text|>, then per turn: <|start_header_id|> role <|end_header_id|> "\n\n" content <|eot_id|>.
    const system = [4, 28, 34, 28, 29, 14, 22, 5, 7, 7, 28, 6];
    const user = [4, 30, 28, 14, 27, 5, 7, 7, 17, 18, 6];
    const assistantHeader = [4, 10, 28, 28, 18, 28, 29, 10, 23, 29, 5, 7, 7];
    expect(example).toEqual({
      inputIds: [3, ...system, ...user, ...assistantHeader, 34, 24, 6],
      labels: [...ignored(1 + 12 + 11 + 13), 34, 24, 6],
    });
  });
});

describe('prompt-completion and messages rows', () => {
  it('give the same ids and labels for the same conversation', () => {
    // A template that writes BOS, the user's text, then the reply and EOS: what a prompt-completion row encodes.
    const plain = ChatTemplate.fromFiles({
      tokenizerConfig: {
        bos_token: '<|begin_of_text|>',
        eos_token: '<|eot_id|>',
        chat_template:
          "{{ bos_token }}{% for m in messages %}{% if m.role == 'assistant' %}{{ m.content + eos_token }}{% else %}{{ m.content }}{% endif %}{% endfor %}",
      },
      where: 'plain',
    })!;
    const rows = parseDataRows(
      '{"prompt": "hi", "completion": "yo"}\n{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n',
    );
    const [completion, chat] = tokenizeExamples(rows, (t) => [3, ...encodeChat(t)], {
      maxLength: 16,
      eosTokenId: 6,
      chat: { template: plain, encode: encodeChat },
    });
    const expected = { inputIds: [3, 17, 18, 34, 24, 6], labels: [X, X, X, 34, 24, 6] };
    expect(completion).toEqual(expected);
    expect(chat).toEqual(expected);
  });
});

describe('chat rows that cannot be used', () => {
  const bad = (messages: string) => () =>
    parseDataRows(`{"text": "a"}\n{"messages": ${messages}}`, 'chat.jsonl');

  it('malformed messages name the line and the message', () => {
    expect(bad('"hi"')).toThrow(/^chat\.jsonl:2: a chat row: "messages" must be an array/);
    expect(bad('[]')).toThrow(/^chat\.jsonl:2: a chat row: "messages" is empty/);
    expect(bad('[{"content": "hi"}]')).toThrow(
      /^chat\.jsonl:2: a chat row: message 1 of 1 has no "role" string/,
    );
    expect(bad('[{"role": "user", "content": "hi"}, {"role": "assistant"}]')).toThrow(
      /message 2 of 2 \(assistant\) has no "content"/,
    );
    expect(bad('[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]')).toThrow(
      /message 1 of 1 \(user\) has a "content" that is an array; give the text as a string/,
    );
    expect(bad('[{"role": "user", "content": 3}]')).toThrow(/"content" that is a number/);
    expect(bad('[null]')).toThrow(DataFormatError);
  });

  it('a chat row without a chat template is an error naming the line', () => {
    const rows = parseDataRows(ROW_1, 'chat.jsonl');
    expect(() => tokenizeExamples(rows, encodeChat, { maxLength: 64, source: 'chat.jsonl' })).toThrow(
      /^chat\.jsonl:1: a chat "messages" row needs the model's chat template/,
    );
  });

  it('a row of no format lists the formats, chat rows included', () => {
    expect(() => parseDataRows('{"conversation": []}', 'chat.jsonl')).toThrow(
      /^chat\.jsonl:1: the row matches no accepted format: it has "conversation"; give .*\{"messages": \[\{"role": \.\.\., "content": \.\.\.\}, \.\.\.\]\}/,
    );
  });

  it('a template that fails, or rewrites earlier turns, is a ChatTemplateError naming the line', () => {
    const failing = new ChatTemplate("{{ raise_exception('roles must alternate') }}", {}, [], 'strict');
    const run = (template: ChatTemplate) => () => chatExamples(`\n\n${ROW_1}`, { template });
    expect(run(failing)).toThrow(ChatTemplateError);
    expect(run(failing)).toThrow(
      /^chat\.jsonl:3: strict: the chat template fails on this conversation: roles must alternate/,
    );
    const counting = new ChatTemplate(
      '{{ messages|length }}{% for m in messages %}{{ m.content }}{% endfor %}',
      {},
      [],
      'counting',
    );
    expect(run(counting)).toThrow(
      /^chat\.jsonl:3: counting: the chat template renders the conversation before it \(message 3/,
    );
    // Without the assistant-only loss the turns need not be located, so the same template is usable.
    // "3shiyo": '3' is 72 (digits follow the letters' 36..61 capitals and 62..68 punctuation, from 69).
    expect(chatExamples(ROW_1, { template: counting, assistantOnlyLoss: false })[0]!.inputIds).toEqual([
      72, 28, 17, 18, 34, 24,
    ]);
  });
});

describe('hostile chat rows', () => {
  it('a row of many empty turns renders a bounded number of prefixes (no quadratic blow-up)', () => {
    const bare = new ChatTemplate('{% for m in messages %}{{ m.content }}{% endfor %}', {}, [], 'bare');
    const turns = Array.from({ length: 20_000 }, () => ({ role: 'assistant', content: '' }));
    const row = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, ...turns] });
    // Nothing is learned (the replies are empty), which is the row's error, not a hang.
    expect(() => chatExamples(row, { template: bare }, 16)).toThrow(
      /the assistant turns hold no token to learn/,
    );
  });
});

describe('ChatTemplate.fromFiles', () => {
  it('passes the special tokens as transformers does, AddedToken objects included', () => {
    const template = ChatTemplate.fromFiles({
      tokenizerConfig: {
        chat_template:
          '{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token }}|{{ add_generation_prompt }}',
        bos_token: { __type: 'AddedToken', content: '<s>' },
        eos_token: '</s>',
        pad_token: '<pad>',
        unk_token: '<unk>',
      },
      where: 'cfg',
    })!;
    expect(template.render([])).toBe('<s>|</s>|<pad>|<unk>|false');
    expect(template.render([], { addGenerationPrompt: true })).toBe('<s>|</s>|<pad>|<unk>|true');
  });

  it('prefers chat_template.jinja, takes the "default" of a template list, and is null without one', () => {
    const tokenizerConfig = {
      chat_template: [
        { name: 'tool_use', template: 'T' },
        { name: 'default', template: 'D' },
      ],
    };
    expect(ChatTemplate.fromFiles({ tokenizerConfig, where: 'w' })!.render([])).toBe('D');
    expect(ChatTemplate.fromFiles({ tokenizerConfig, jinja: 'J', where: 'w' })!.render([])).toBe('J');
    expect(ChatTemplate.fromFiles({ tokenizerConfig: {}, where: 'w' })).toBeNull();
    expect(() => ChatTemplate.fromFiles({ tokenizerConfig: { chat_template: 3 }, where: 'w' })).toThrow(
      /^w: "chat_template" must be a string/,
    );
    expect(() =>
      ChatTemplate.fromFiles({ tokenizerConfig: { chat_template: '{% if %}' }, where: 'w' }),
    ).toThrow(ChatTemplateError);
  });
});
