// Trains the demo base model's tokenizer on the pretraining corpus and writes tokenizer.json and
// tokenizer_config.json into the base model folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { tokenizerJson, trainBpe } from './bpe-trainer.js';
import { BASE_MODEL_DIR } from './paths.js';
import { HELD_OUT_YEARS, loadAddresses } from './sotu-corpus.js';

export const VOCAB_SIZE = 1024;

const texts = loadAddresses()
  .filter((a) => !HELD_OUT_YEARS.has(a.year))
  .map((a) => a.text);
const started = Date.now();
const bpe = trainBpe(texts, VOCAB_SIZE);
const json = tokenizerJson(bpe);
mkdirSync(BASE_MODEL_DIR, { recursive: true });
writeFileSync(join(BASE_MODEL_DIR, 'tokenizer.json'), `${JSON.stringify(json, null, 2)}\n`);
writeFileSync(
  join(BASE_MODEL_DIR, 'tokenizer_config.json'),
  `${JSON.stringify(
    {
      add_bos_token: true,
      add_eos_token: false,
      bos_token: '<s>',
      eos_token: '</s>',
      unk_token: '<unk>',
      pad_token: null,
      clean_up_tokenization_spaces: false,
      legacy: true,
      model_max_length: 512,
      tokenizer_class: 'LlamaTokenizer',
    },
    null,
    2,
  )}\n`,
);

// Round-trip check with the maintained tokenizer library the models package uses.
const tokenizer = new Tokenizer(json as Record<string, unknown>, {});
const sample = 'The Congress of the United States: wonderful: W AH1 N D ER0 F AH0 L — 1790 ½';
const ids = tokenizer.encode(sample).ids;
const back = tokenizer.decode(ids, { skip_special_tokens: true });
if (back !== sample) throw new Error(`tokenizer round trip failed: ${JSON.stringify(back)}`);
console.log(
  `vocab ${bpe.vocab.size}, ${bpe.merges.length} merges in ${Date.now() - started} ms; "${sample}" -> ${ids.length} ids`,
);
