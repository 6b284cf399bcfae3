import { llamaTokenizerJson } from '@peft/models';

// A small byte-fallback BPE trainer producing a Hugging Face `tokenizer.json` in the layout of Llama's
// SentencePiece-converted tokenizers. The maintained trainers (Python `tokenizers`, SentencePiece) are
// not available from npm; the JavaScript tokenizer libraries only encode and decode. Training here runs
// once, to build the demo's committed tokenizer, so a plain implementation is enough.

const SPACE = '\u2581';

export interface BpeResult {
  vocab: Map<string, number>;
  merges: [string, string][];
}

function pairKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

/** Learns merges until the vocabulary (3 specials + 256 byte tokens + alphabet + merges) reaches `vocabSize`. */
export function trainBpe(texts: Iterable<string>, vocabSize: number, minCharCount = 50): BpeResult {
  const wordCounts = new Map<string, number>();
  const charCounts = new Map<string, number>();
  for (const text of texts) {
    for (const raw of text.split(' ')) {
      if (!raw) continue;
      const word = SPACE + raw;
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
    }
  }
  for (const [word, n] of wordCounts)
    for (const ch of word) charCounts.set(ch, (charCounts.get(ch) ?? 0) + n);

  const vocab = new Map<string, number>([
    ['<unk>', 0],
    ['<s>', 1],
    ['</s>', 2],
  ]);
  for (let b = 0; b < 256; b++) vocab.set(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, vocab.size);
  const alphabet = [...charCounts.entries()]
    .filter(([, n]) => n >= minCharCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([ch]) => ch);
  for (const ch of alphabet) vocab.set(ch, vocab.size);
  const known = new Set(alphabet);

  // Words as symbol arrays; a character outside the alphabet becomes a barrier that never merges.
  const words = [...wordCounts.entries()].map(([w, count]) => ({
    symbols: [...w].map((ch) => (known.has(ch) ? ch : null)),
    count,
  }));
  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (i: number, sign: 1 | -1) => {
    const { symbols, count } = words[i]!;
    for (let k = 0; k + 1 < symbols.length; k++) {
      const a = symbols[k];
      const b = symbols[k + 1];
      if (a == null || b == null) continue;
      const key = pairKey(a, b);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * count);
      if (sign > 0) {
        const set = pairWords.get(key) ?? new Set<number>();
        set.add(i);
        pairWords.set(key, set);
      }
    }
  };
  for (let i = 0; i < words.length; i++) addPairs(i, 1);

  const merges: [string, string][] = [];
  while (vocab.size < vocabSize) {
    let best: string | null = null;
    let bestCount = 0;
    for (const [key, n] of pairCounts) {
      if (n > bestCount || (n === bestCount && best !== null && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (best === null || bestCount < 2) break;
    const [a, b] = best.split('\u0000') as [string, string];
    const merged = a + b;
    merges.push([a, b]);
    if (!vocab.has(merged)) vocab.set(merged, vocab.size);
    for (const i of pairWords.get(best) ?? []) {
      addPairs(i, -1);
      const { symbols } = words[i]!;
      const next: (string | null)[] = [];
      for (let k = 0; k < symbols.length; k++) {
        if (k + 1 < symbols.length && symbols[k] === a && symbols[k + 1] === b) {
          next.push(merged);
          k++;
        } else next.push(symbols[k]!);
      }
      words[i]!.symbols = next;
      addPairs(i, 1);
    }
    pairCounts.delete(best);
    pairWords.delete(best);
  }
  return { vocab, merges };
}

/** The `tokenizer.json` document (BPE with byte fallback, "▁" for spaces, BOS added), as Llama uses. */
export function tokenizerJson({ vocab, merges }: BpeResult): Record<string, unknown> {
  return llamaTokenizerJson({ vocab, merges: merges.map(([a, b]) => `${a} ${b}`) });
}
