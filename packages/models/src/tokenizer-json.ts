const SPACE = '\u2581';

export interface LlamaTokenizerJsonInput {
  /** Token -> id, including `<unk>` (0), `<s>` (1) and `</s>` (2). */
  vocab: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
  /** Merge rules in rank order, each "left right". */
  merges: readonly string[];
  /** Unknown characters become `<0xNN>` byte tokens (which the vocab must hold), as Llama's tokenizer does. */
  byteFallback?: boolean;
}

/**
 * A `tokenizer.json` in the layout transformers writes for Llama's SentencePiece tokenizers (BPE, "▁"
 * for spaces, BOS added, optional byte fallback), from a vocabulary and merges: for tests, and for
 * tokenizers trained outside the Hugging Face tokenizers library.
 */
export function llamaTokenizerJson(input: LlamaTokenizerJsonInput): Record<string, unknown> {
  const byteFallback = input.byteFallback ?? true;
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const vocab = input.vocab instanceof Map ? Object.fromEntries(input.vocab) : { ...input.vocab };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        ...(byteFallback ? [{ type: 'ByteFallback' }] : []),
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: byteFallback,
      ignore_merges: false,
      vocab,
      merges: [...input.merges],
    },
  };
}
