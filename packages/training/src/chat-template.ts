// A model's chat template (Jinja, from tokenizer_config.json or chat_template.jinja), rendered as transformers'
// `apply_chat_template` renders it. Browser-safe: the caller reads the files.
import { Template } from '@huggingface/jinja';
import { PeftError } from '@peft/core';

/** One turn of a conversation, as transformers and TRL take it; other keys (name, tool_calls) reach the template. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
  readonly [key: string]: unknown;
}

/** A chat template is missing, does not parse, fails to render, or cannot be split into turns. */
export class ChatTemplateError extends PeftError {
  constructor(message: string) {
    super('CHAT_TEMPLATE', message);
  }
}

/** The special-token attributes transformers passes to a template (`special_tokens_map`), by name. */
const SPECIAL_TOKEN_NAMES = [
  'bos_token',
  'eos_token',
  'unk_token',
  'sep_token',
  'pad_token',
  'cls_token',
  'mask_token',
] as const;

export interface ChatTemplateFiles {
  /** Parsed `tokenizer_config.json` (its `chat_template` and special tokens). */
  readonly tokenizerConfig: unknown;
  /** Parsed `tokenizer.json` (its special added tokens mark where an assistant turn ends), if any. */
  readonly tokenizerJson?: unknown;
  /** The text of `chat_template.jinja`, which wins over the config's `chat_template` as in transformers. */
  readonly jinja?: string | null;
  /** Names the model folder in errors. */
  readonly where: string;
}

export interface RenderOptions {
  /** Appends the header of an assistant turn the model is to write (false for training data). */
  readonly addGenerationPrompt?: boolean;
}

/**
 * A parsed chat template with the variables transformers passes to it: `messages`, `add_generation_prompt`,
 * and each special token of tokenizer_config.json (`bos_token`, `eos_token`, `pad_token`, `unk_token`, ...,
 * `additional_special_tokens`) as its text.
 */
export class ChatTemplate {
  /** Texts of the tokenizer's special tokens (`<|im_end|>`, `<|eot_id|>`, `</s>`, ...). */
  readonly specialTokens: readonly string[];
  private readonly template: Template;
  private readonly variables: Readonly<Record<string, unknown>>;

  constructor(
    readonly source: string,
    variables: Readonly<Record<string, unknown>>,
    specialTokens: readonly string[],
    readonly where = 'chat template',
  ) {
    try {
      this.template = new Template(source);
    } catch (cause) {
      throw new ChatTemplateError(`${where}: the chat template does not parse: ${(cause as Error).message}`);
    }
    this.variables = variables;
    this.specialTokens = specialTokens;
  }

  /**
   * The template of a model folder's files, or null when it has none: `chat_template.jinja` if given, else
   * tokenizer_config.json's `chat_template` (a string, or the entry named "default" of a list of
   * `{name, template}`, the older multi-template layout).
   */
  static fromFiles(files: ChatTemplateFiles): ChatTemplate | null {
    const config = asRecord(files.tokenizerConfig);
    const source = files.jinja ?? templateFromConfig(config.chat_template, files.where);
    if (source === null) return null;
    const variables: Record<string, unknown> = {};
    for (const name of SPECIAL_TOKEN_NAMES) {
      const text = tokenText(config[name]);
      if (text !== null) variables[name] = text;
    }
    const additional = Array.isArray(config.additional_special_tokens)
      ? config.additional_special_tokens.map(tokenText).filter((t): t is string => t !== null)
      : [];
    variables.additional_special_tokens = additional;
    const special = new Set<string>([
      ...SPECIAL_TOKEN_NAMES.map((name) => variables[name]).filter((t): t is string => typeof t === 'string'),
      ...additional,
      ...specialAddedTokens(files.tokenizerJson),
      ...specialAddedTokens({ added_tokens: Object.values(asRecord(config.added_tokens_decoder)) }),
    ]);
    return new ChatTemplate(source, variables, [...special].filter(Boolean), files.where);
  }

  /** The conversation as text; a template error (`raise_exception` included) names the template's folder. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    try {
      return this.template.render({
        ...this.variables,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
      });
    } catch (cause) {
      throw new ChatTemplateError(
        `${this.where}: the chat template fails on this conversation: ${(cause as Error).message}`,
      );
    }
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function templateFromConfig(value: unknown, where: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.map(asRecord).find((entry) => entry.name === 'default');
    if (named && typeof named.template === 'string') return named.template;
    throw new ChatTemplateError(
      `${where}: "chat_template" is a list with no {"name": "default", "template": ...} entry; name one "default"`,
    );
  }
  throw new ChatTemplateError(`${where}: "chat_template" must be a string, got ${typeof value}`);
}

/** A special token's text: a string, or an `AddedToken` object's `content` (older tokenizer_config.json files). */
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  const content = asRecord(value).content;
  return typeof content === 'string' ? content : null;
}

function specialAddedTokens(tokenizerJson: unknown): string[] {
  const added = asRecord(tokenizerJson).added_tokens;
  if (!Array.isArray(added)) return [];
  return added
    .map(asRecord)
    .filter((token) => token.special === true && typeof token.content === 'string')
    .map((token) => token.content as string);
}
