// Chat rows (`{"messages": [{"role", "content"}, ...]}`, the layout of TRL and mlx-lm): checked, rendered with
// the model's chat template and tokenized, with labels on the assistant turns only when asked.
import type { ChatMessage, ChatTemplate } from './chat-template.js';
import { ChatTemplateError } from './chat-template.js';
import { encodeTruncated } from './truncated-encode.js';

/** A conversation row; `line` is its physical line in the file. */
export interface ChatRow {
  messages: ChatMessage[];
  line?: number;
}

/** The role whose turns are learned with an assistant-only loss. */
export const ASSISTANT_ROLE = 'assistant';

/**
 * The messages of a `{"messages": [...]}` row, checked: a non-empty array of objects, each with a string
 * "role" and a string "content" (keys beyond those are kept for the template). Returns the problem as a
 * sentence instead of throwing, so the caller names the file and line.
 */
export function checkMessages(value: unknown): ChatMessage[] | string {
  if (!Array.isArray(value)) return '"messages" must be an array of {"role": ..., "content": ...} objects';
  if (value.length === 0) return '"messages" is empty; give at least one {"role": ..., "content": ...} turn';
  for (const [i, message] of value.entries()) {
    const where = `message ${i + 1} of ${value.length}`;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      return `${where} is not a {"role": ..., "content": ...} object`;
    }
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || role === '') return `${where} has no "role" string`;
    if (content === undefined) return `${where} (${role}) has no "content"`;
    if (typeof content !== 'string') {
      return `${where} (${role}) has a "content" that is ${Array.isArray(content) ? 'an array' : content === null ? 'null' : `a ${typeof content}`}; give the text as a string`;
    }
  }
  return value as ChatMessage[];
}

export interface ChatTokenizeOptions {
  readonly maxLength: number;
  /** Labels on the assistant turns only (their content and end-of-turn token); otherwise every token is learned. */
  readonly assistantOnlyLoss: boolean;
}

/**
 * A chat row as token ids (at most `maxLength`), with labels when only the assistant turns are learned.
 * Returns a sentence saying why the row cannot be used instead of throwing, so the caller names the line;
 * template failures throw `ChatTemplateError`.
 *
 * The text is `render(messages)` with `add_generation_prompt` false, encoded without added special tokens:
 * the template writes BOS itself where the model has one, as transformers' `apply_chat_template(tokenize=True)`
 * does. No EOS is appended: the template ends each turn.
 *
 * Assistant turns are found by rendering prefixes of the conversation, so no knowledge of any one template
 * is needed. For the assistant message i:
 * - its turn starts after `render(messages[:i], add_generation_prompt=true)` (the header the model is
 *   prompted with, e.g. `<|im_start|>assistant\n`; a template without a generation prompt renders none, and
 *   then the header is learned with the reply);
 * - it ends with `render(messages[:i+1])`, cut after the last special token of the turn (ChatML's
 *   `<|im_end|>`, Llama 3's `<|eot_id|>`): the model must learn to emit that token to stop, while text after it
 *   (ChatML's newline) is the next turn's layout, not something it writes. A turn with no special token is
 *   learned to its end.
 * Each render must be a prefix of the whole conversation's; a template that rewrites earlier turns depending
 * on later ones (or one that writes a default system prompt only before a first message, when the
 * conversation opens with the assistant) cannot be split this way and is an error, never a guessed span. Boundaries in tokens are the token counts of the
 * prefix texts (the rule `tokenizeExamples` uses for a prompt and its completion), so merges across a seam
 * count as the earlier side. This masks every assistant turn as TRL's `assistant_only_loss` does (mlx-lm's
 * `--mask-prompt` learns only the last one): each reply is a target given the conversation before it.
 */
export function tokenizeChat(
  row: ChatRow,
  template: ChatTemplate,
  encode: (text: string) => number[],
  options: ChatTokenizeOptions,
): { inputIds: number[]; labels?: number[] } | string {
  const { maxLength } = options;
  const messages = row.messages;
  const full = template.render(messages);
  const inputIds = encodeTruncated(full, encode, maxLength);
  if (!options.assistantOnlyLoss) return { inputIds };
  const labels = inputIds.map(() => -100);
  let assistantTurns = 0;
  let learned = 0;
  let firstStart = 0;
  for (let i = 0; i < messages.length; i++) {
    // Every real template writes at least one token per message (its role header), so message i starts at
    // token i or later: past maxLength all is cut. This also bounds the prefix renders of a hostile row of
    // many empty messages (each render costs its prefix's length) to maxLength of them.
    if (i >= maxLength) break;
    if (messages[i]!.role !== ASSISTANT_ROLE) continue;
    assistantTurns++;
    const before = messages.slice(0, i);
    const through = template.render(messages.slice(0, i + 1));
    if (!full.startsWith(through)) throw notIncremental(template, i, 'the conversation through it');
    const start = template.render(before, { addGenerationPrompt: true });
    if (!through.startsWith(start)) throw notIncremental(template, i, 'the conversation before it');
    const startToken = encodeTruncated(start, encode, maxLength).length;
    if (assistantTurns === 1) firstStart = startToken;
    // Everything from here on is cut away by maxLength.
    if (startToken >= inputIds.length) break;
    const end = turnEnd(through, start.length, template.specialTokens);
    const endToken = Math.min(
      encodeTruncated(through.slice(0, end), encode, maxLength).length,
      inputIds.length,
    );
    for (let t = startToken; t < endToken; t++) labels[t] = inputIds[t]!;
    learned += Math.max(0, endToken - startToken);
  }
  if (assistantTurns === 0) {
    return `the conversation has no "${ASSISTANT_ROLE}" message, so an assistant-only loss learns nothing from it; add the reply, or train on every token (--no-assistant-only-loss)`;
  }
  if (learned === 0 && firstStart < maxLength) {
    return 'the assistant turns hold no token to learn (empty replies, and the template writes no end-of-turn token); give the replies, or train on every token (--no-assistant-only-loss)';
  }
  if (learned === 0) {
    return `the conversation before the first assistant reply takes all ${maxLength} tokens of the sequence, so none of the reply is left to learn; shorten the conversation or raise the sequence length`;
  }
  return { inputIds, labels };
}

/** The end (in characters) of the turn `text.slice(start)`: after its last special token, else its end. */
function turnEnd(text: string, start: number, specialTokens: readonly string[]): number {
  let end = -1;
  for (const token of specialTokens) {
    const at = text.lastIndexOf(token);
    if (at >= start && at + token.length > end) end = at + token.length;
  }
  return end < 0 ? text.length : end;
}

function notIncremental(template: ChatTemplate, index: number, what: string): ChatTemplateError {
  return new ChatTemplateError(
    `${template.where}: the chat template renders ${what} (message ${index + 1}, an assistant turn) differently from the start of the whole conversation (does the template rewrite earlier turns, or add a system prompt before a conversation that opens with the assistant?), so the assistant turns cannot be located; train on every token (--no-assistant-only-loss) or give prompt-completion rows`,
  );
}
