import { generate, type LlamaForCausalLM, type TextTokenizer } from '@peft/models';
import type { PromptExample } from './examples.js';

export interface Generation {
  word: string;
  /** What the model was given. */
  prompt: string;
  expected: string;
  /** What the model wrote after the prompt, special tokens removed. */
  output: string;
}

/** Greedy continuations of each example's prompt ("word:"), in one left-padded batch. */
export async function greedyGenerations(
  model: LlamaForCausalLM,
  tokenizer: TextTokenizer,
  examples: readonly PromptExample[],
  maxNewTokens: number,
): Promise<Generation[]> {
  if (examples.length === 0) return [];
  const prompts = examples.map((e) => tokenizer.encode(e.prompt));
  const { tokens } = await generate(model, prompts, { maxNewTokens });
  return examples.map((e, i) => ({
    word: e.word,
    prompt: e.prompt,
    expected: e.expected,
    output: tokenizer.decode(tokens[i]!).trim(),
  }));
}
