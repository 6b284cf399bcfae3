import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, toFloat32 } from '@peft/core';
import { afterAll, describe, expect, it } from 'vitest';
import { llamaConfig } from './config.js';
import { writeRandomModel } from './node.js';
import { type NamedBlob, pretrainedFilesFromBlobs } from './pretrained-blobs.js';

const CONFIG = llamaConfig({
  vocab_size: 96,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 32,
});

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** The folder's files as a directory picker gives them: "<folder>/<file>" names, contents in Blobs. */
async function folderBlobs(maxShardBytes?: number): Promise<{ dir: string; files: NamedBlob[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'pretrained-blobs-'));
  dirs.push(dir);
  await writeRandomModel(dir, CONFIG, {
    seed: 3,
    dtype: 'float32',
    ...(maxShardBytes ? { maxShardBytes } : {}),
  });
  const files: NamedBlob[] = [];
  for (const name of (await readdir(dir)).sort())
    files.push({ name: `tiny/${name}`, blob: new Blob([await readFile(join(dir, name))]) });
  return { dir, files };
}

describe('pretrainedFilesFromBlobs', () => {
  it.each([
    ['one weights file', undefined],
    ['shards with an index', 20_000],
  ])(
    'reads %s: every tensor equals the file on disk, and the JSON files are parsed',
    async (_, shardBytes) => {
      const { dir, files } = await folderBlobs(shardBytes);
      const names = files.map((f) => f.name);
      if (shardBytes) expect(names).toContain('tiny/model.safetensors.index.json');
      else expect(names).toContain('tiny/model.safetensors');
      const loaded = await pretrainedFilesFromBlobs(files);
      expect(loaded.name).toBe('tiny');
      expect(loaded.config).toEqual(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
      expect(loaded.tokenizer).toEqual(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')));
      expect(loaded.generationConfig).toBeDefined();
      const { openCheckpoint } = await import('@peft/core/node');
      const reference = await openCheckpoint(dir);
      try {
        expect(loaded.source.keys().sort()).toEqual(reference.keys().sort());
        for (const key of reference.keys()) {
          expect(loaded.source.info(key)).toMatchObject({
            dtype: reference.info(key).dtype,
            shape: reference.info(key).shape,
          });
          expect(toFloat32(await loaded.source.get(key))).toEqual(toFloat32(await reference.get(key)));
        }
      } finally {
        await reference.close();
      }
    },
  );

  it('says what is missing: config.json, the weights, a shard the index names', async () => {
    const { files } = await folderBlobs(20_000);
    const without = (name: string) => files.filter((f) => !f.name.endsWith(`/${name}`));
    await expect(pretrainedFilesFromBlobs(without('config.json'))).rejects.toThrow(
      /tiny has no config\.json; choose a Hugging Face model folder/,
    );
    await expect(pretrainedFilesFromBlobs(without('model.safetensors.index.json'))).rejects.toThrow(
      /tiny has no model\.safetensors or model\.safetensors\.index\.json/,
    );
    const shard = files.find((f) => /model-00001-of-/.test(f.name))!.name.split('/')[1]!;
    const attempt = pretrainedFilesFromBlobs(without(shard));
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(pretrainedFilesFromBlobs(without(shard))).rejects.toThrow(
      new RegExp(`names shard ${shard.replace(/\./g, '\\.')}, which was not among the files chosen`),
    );
  });

  it('refuses a config.json that is not JSON, naming the file', async () => {
    const { files } = await folderBlobs();
    const broken = files.map((f) =>
      f.name.endsWith('/config.json') ? { ...f, blob: new Blob(['{ nope']) } : f,
    );
    await expect(pretrainedFilesFromBlobs(broken)).rejects.toThrow(/tiny\/config\.json is not valid JSON/);
  });
});
