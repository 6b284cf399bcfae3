// Snippets in the guides that promise a library call run as written against the installed tarballs, in a
// folder holding the files they name (a small random model and JSONL data standing in for the user's).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installedProject } from './installed.js';
import { stripTypes } from './readme-snippet.js';
import { runCommand } from './run.js';
import { REPO_ROOT } from './workspace.js';

/** The first ts block after `heading` in a markdown file. */
function blockAfter(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`no "${heading}" section`);
  const match = /^```ts\s*\n([\s\S]*?)^```/m.exec(markdown.slice(at));
  if (!match) throw new Error(`no ts block after "${heading}"`);
  return match[1]!;
}

const dir = () => join(installedProject(), 'docs-fine-tuning');

beforeAll(async () => {
  await mkdir(dir(), { recursive: true });
  const markdown = await readFile(join(REPO_ROOT, 'docs', 'fine-tuning.md'), 'utf8');
  await writeFile(
    join(dir(), 'snippet.mjs'),
    stripTypes(blockAfter(markdown, '## From code'), 'fine-tuning.md'),
  );
  const rows = (texts: string[]) => texts.map((text) => JSON.stringify({ text })).join('\n');
  await writeFile(
    join(dir(), 'train.jsonl'),
    rows(['the cat sat on the mat', 'a dog ran in the park', 'sun']),
  );
  await writeFile(join(dir(), 'valid.jsonl'), rows(['the dog sat', 'a cat ran']));
  await writeFile(
    join(dir(), 'make-model.mjs'),
    "import { writeRandomModel } from '@peft/models/node';\n" +
      "await writeRandomModel('my-model', { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, " +
      'num_attention_heads: 4, vocab_size: 300 });\n',
  );
  const made = await runCommand(process.execPath, ['make-model.mjs'], { cwd: dir() });
  if (made.code !== 0) throw new Error(made.stdout + made.stderr);
});

describe('docs/fine-tuning.md', () => {
  it('"From code" runs as written: a 4-bit LoRA fine-tune from one call', async () => {
    const result = await runCommand(process.execPath, ['snippet.mjs'], { cwd: dir() });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/step 4: loss \d+\.\d{3}/);
    expect(result.stdout).toMatch(/eval loss \d+\.\d{3}; adapter in my-lora/);
  });
});
