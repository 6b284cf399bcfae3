import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeRandomModel } from '@peft/models/node';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { useBackendForTests } from '../test-support/model-folder.js';
import { defaultDownloadDir } from './download.js';
import { runPeft, tempDir } from './test-support/checkpoints.js';
import { type FakeHub, serveFolderAsHubRepo } from './test-support/fake-hub.js';

const REPO = 'peft-test/tiny-stories';
const SMALL = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  vocab_size: 300,
};

let tmp: Awaited<ReturnType<typeof tempDir>>;
let hub: FakeHub;
beforeAll(useBackendForTests);
beforeEach(async () => {
  tmp = await tempDir();
  const source = join(tmp.dir, 'source');
  await writeRandomModel(source, SMALL, { seed: 1, dtype: 'float32' });
  await writeFile(join(source, 'pytorch_model.bin'), 'not read');
  hub = await serveFolderAsHubRepo(source, REPO);
  vi.stubEnv('HF_ENDPOINT', hub.url);
  vi.stubEnv('HF_TOKEN', '');
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await hub.close();
  await tmp.cleanup();
});

describe('peft download', () => {
  it('writes the folder generate loads, and a second run fetches nothing', async () => {
    const out = join(tmp.dir, 'models', 'tiny');
    const run = await runPeft('download', REPO, '-o', out);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`written: ${out}\n`);
    expect(run.stderr).toMatch(/model\.safetensors/);
    expect(run.stderr).toMatch(/4 file\(s\) downloaded/);
    for (const name of ['config.json', 'generation_config.json', 'tokenizer.json', 'model.safetensors']) {
      expect(await readFile(join(out, name))).toEqual(await readFile(join(tmp.dir, 'source', name)));
    }
    expect(hub.downloads.has('pytorch_model.bin')).toBe(false);
    const generated = await runPeft(
      'generate',
      out,
      '--prompt',
      'hi',
      '--max-new-tokens',
      '2',
      '--backend',
      'wasm',
    );
    expect(generated.code).toBe(0);

    const again = await runPeft('download', REPO, '-o', out, '--json');
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report).toMatchObject({ repo: REPO, revision: 'main', dir: out, downloadedBytes: 0 });
    expect(report.files.map((file: { status: string }) => file.status)).toEqual(Array(4).fill('skipped'));
    expect([...hub.downloads.values()]).toEqual([1, 1, 1, 1]);
  });

  it('--include picks files; an unknown repo is a one-line error with exit code 3', async () => {
    const out = join(tmp.dir, 'tok');
    const run = await runPeft(
      'download',
      REPO,
      '-o',
      out,
      '--include',
      'tokenizer.json',
      'config.json',
      '--json',
    );
    expect(run.code).toBe(0);
    expect(
      JSON.parse(run.stdout)
        .files.map((file: { path: string }) => file.path)
        .sort(),
    ).toEqual(['config.json', 'tokenizer.json']);

    const missing = await runPeft('download', 'peft-test/nope', '-o', join(tmp.dir, 'x'));
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error: .*404.*check the repository id/);
  });

  it('defaults to models/<name>', () => {
    expect(defaultDownloadDir('HuggingFaceTB/SmolLM2-135M')).toBe(join('models', 'SmolLM2-135M'));
  });
});
