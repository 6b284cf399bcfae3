// Tokenizing only what a run keeps. An example is cut to `seqLen` tokens, so tokenizing a whole
// multi-megabyte line first (seconds and gigabytes for a 5 MB line) is work thrown away. Tokenizers are
// local: a character far before a cut tokenizes the same whether or not the text goes on, so the first
// tokens of a prefix that yields comfortably more than `maxTokens` are the first tokens of the whole text.

/** Tokens a prefix must yield beyond those kept, so the cut (a word split in two) is far from what is kept. */
export const PREFIX_MARGIN_TOKENS = 32;
/** The first prefix has this many characters per wanted token; it doubles until it yields enough. */
const FIRST_CHARS_PER_TOKEN = 8;

/**
 * The first `maxTokens` ids of `encode(text)`, computed from a prefix of `text`: the first prefix holds
 * 8 characters per wanted token, and it doubles until its tokens reach `maxTokens` plus a margin or it is
 * the whole text. So the characters handed to `encode` are at most about four times those the kept
 * tokens span (and never more than twice the text), however long the text is. A prefix never ends
 * inside a surrogate pair.
 */
export function encodeTruncated(
  text: string,
  encode: (text: string) => number[],
  maxTokens: number,
): number[] {
  const wanted = maxTokens + PREFIX_MARGIN_TOKENS;
  let length = wanted * FIRST_CHARS_PER_TOKEN;
  for (;;) {
    if (length >= text.length) return encode(text).slice(0, maxTokens);
    const ids = encode(text.slice(0, prefixEnd(text, length)));
    if (ids.length >= wanted) return ids.slice(0, maxTokens);
    length *= 2;
  }
}

/** `length`, or one less when that would split a surrogate pair. */
function prefixEnd(text: string, length: number): number {
  const last = text.charCodeAt(length - 1);
  return last >= 0xd800 && last <= 0xdbff ? length - 1 : length;
}
