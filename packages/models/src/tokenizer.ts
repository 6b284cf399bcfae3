import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '@peft/core';
import { InputError } from './errors.js';

/**
 * A Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`), run by
 * `@huggingface/tokenizers`, the pure-JS implementation transformers.js uses: BPE with byte
 * fallback (Llama / SentencePiece conversions), byte-level BPE (GPT-2, Qwen2, SmolLM) and the
 * normalizers and decoders those need. This class only fixes the API and the errors.
 */
export class TextTokenizer {
  readonly tokenizer: Tokenizer;
  readonly vocabSize: number;
  /** The files it was built from, to write beside a saved model. */
  readonly files: { readonly tokenizer: object; readonly tokenizerConfig: object };

  /** `where` names the file in errors. */
  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}, where = 'tokenizer.json') {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || Array.isArray(tokenizerJson)) {
      throw new ConfigError(`${where}: expected a JSON object`);
    }
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, (tokenizerConfig ?? {}) as object);
    } catch (cause) {
      throw new ConfigError(`${where}: cannot build the tokenizer: ${(cause as Error).message}`);
    }
    this.vocabSize = this.tokenizer.get_vocab(true).size;
    this.files = { tokenizer: tokenizerJson, tokenizerConfig: (tokenizerConfig ?? {}) as object };
  }

  /** Token ids of `text`; with `addSpecialTokens` (default true) the post-processor adds e.g. BOS. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Text of `ids`; special tokens are dropped unless `skipSpecialTokens` is false. */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new InputError(`cannot decode token id ${id}`);
    }
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }
}
