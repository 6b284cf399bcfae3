import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../errors.js';
import { fromFloat32, type StateDict } from '../../host-tensor.js';
import { MissingTensorError } from '../../tensor-source.js';
import { openCheckpoint } from './checkpoint.js';
import { writeSafetensorsFile } from './write-file.js';

let root: string;
let counter = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'peft-checkpoint-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const t = (...values: number[]) => fromFloat32(values, [values.length]);

/** A fresh folder holding `shards` (file name -> dict) and, if given, an index file. */
async function folder(
  shards: Record<string, StateDict>,
  index?: unknown,
  indexName = 'model.safetensors.index.json',
) {
  const dir = join(root, `ckpt-${counter++}`);
  await mkdir(dir);
  for (const [name, dict] of Object.entries(shards)) await writeSafetensorsFile(join(dir, name), dict);
  if (index !== undefined) {
    await writeFile(join(dir, indexName), typeof index === 'string' ? index : JSON.stringify(index));
  }
  return dir;
}

const shard1: StateDict = new Map([
  ['model.embed.weight', t(1, 2)],
  ['model.layers.0.w', t(3)],
]);
const shard2: StateDict = new Map([['lm_head.weight', t(4, 5, 6)]]);
const weightMap = {
  'model.embed.weight': 'model-00001-of-00002.safetensors',
  'model.layers.0.w': 'model-00001-of-00002.safetensors',
  'lm_head.weight': 'model-00002-of-00002.safetensors',
};
const shardFiles = { 'model-00001-of-00002.safetensors': shard1, 'model-00002-of-00002.safetensors': shard2 };

async function checkpointError(dir: string): Promise<SafetensorsError> {
  const error = await openCheckpoint(dir).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SafetensorsError);
  return error as SafetensorsError;
}

describe('openCheckpoint', () => {
  it('opens a single model.safetensors', async () => {
    const dir = await folder({ 'model.safetensors': shard1 });
    const source = await openCheckpoint(dir);
    expect(source.name).toBe(dir);
    expect(source.files).toEqual([join(dir, 'model.safetensors')]);
    expect(source.keys().sort()).toEqual([...shard1.keys()].sort());
    expect(await source.get('model.layers.0.w')).toEqual(t(3));
    expect(source.has('lm_head.weight')).toBe(false);
    await expect(source.get('lm_head.weight')).rejects.toThrow(MissingTensorError);
    await source.close();
  });

  it('opens shards through the index, reading each tensor from its shard', async () => {
    const dir = await folder(shardFiles, { metadata: { total_size: 24 }, weight_map: weightMap });
    const source = await openCheckpoint(dir);
    expect(source.keys()).toEqual(Object.keys(weightMap));
    expect(source.files).toEqual([
      join(dir, 'model-00001-of-00002.safetensors'),
      join(dir, 'model-00002-of-00002.safetensors'),
    ]);
    expect(source.info('lm_head.weight')).toMatchObject({ dtype: 'F32', shape: [3] });
    expect(await source.get('lm_head.weight')).toEqual(t(4, 5, 6));
    expect(await source.get('model.embed.weight')).toEqual(t(1, 2));
    await source.close();
    await expect(source.get('lm_head.weight')).rejects.toThrow(/closed/);
  });

  it('prefers model.safetensors when both it and an index exist, as transformers does', async () => {
    const dir = await folder({ 'model.safetensors': shard2, ...shardFiles }, { weight_map: weightMap });
    const source = await openCheckpoint(dir);
    expect(source.keys()).toEqual(['lm_head.weight']);
    await source.close();
  });

  it('takes another weights name (and its index)', async () => {
    const dir = await folder(
      shardFiles,
      { weight_map: weightMap },
      'diffusion_pytorch_model.safetensors.index.json',
    );
    const source = await openCheckpoint(dir, { weightsName: 'diffusion_pytorch_model.safetensors' });
    expect(source.keys()).toHaveLength(3);
    await source.close();
  });

  it('rejects a folder with neither file', async () => {
    const error = await checkpointError(await folder({}));
    expect(error.message).toMatch(/no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('rejects an index naming a missing shard, naming index, tensor and shard', async () => {
    const dir = await folder({ 'model-00001-of-00002.safetensors': shard1 }, { weight_map: weightMap });
    const error = await checkpointError(dir);
    expect(error.file).toBe(join(dir, 'model.safetensors.index.json'));
    expect(error.tensor).toBe('lm_head.weight');
    expect(error.message).toMatch(/model-00002-of-00002\.safetensors named by the index does not exist/);
  });

  it('rejects an index mapping a tensor to a shard that lacks it', async () => {
    const dir = await folder(shardFiles, {
      weight_map: { ...weightMap, 'model.norm.weight': 'model-00002-of-00002.safetensors' },
    });
    const error = await checkpointError(dir);
    expect(error.file).toBe(join(dir, 'model-00002-of-00002.safetensors'));
    expect(error.tensor).toBe('model.norm.weight');
  });

  it('rejects shard paths that leave the folder', async () => {
    for (const shard of ['../model.safetensors', '/etc/passwd', 'sub/../../x.safetensors', '.']) {
      const error = await checkpointError(await folder(shardFiles, { weight_map: { w: shard } }));
      expect(error.message).toMatch(/points outside the checkpoint folder/);
      expect(error.tensor).toBe('w');
    }
  });

  it('rejects an unreadable index, one without weight_map, and non-string entries', async () => {
    expect((await checkpointError(await folder(shardFiles, '{"weight_map":'))).message).toMatch(
      /cannot read the index/,
    );
    expect((await checkpointError(await folder(shardFiles, { metadata: {} }))).message).toMatch(
      /no "weight_map"/,
    );
    expect((await checkpointError(await folder(shardFiles, 'null'))).message).toMatch(/no "weight_map"/);
    const error = await checkpointError(await folder(shardFiles, { weight_map: { w: 3 } }));
    expect(error.tensor).toBe('w');
  });

  it('propagates an invalid shard header as that shard’s SafetensorsError', async () => {
    const dir = await folder({ 'model-00001-of-00002.safetensors': shard1 }, { weight_map: weightMap });
    await writeFile(join(dir, 'model-00002-of-00002.safetensors'), 'not safetensors at all');
    const error = await checkpointError(dir);
    expect(error.file).toBe(join(dir, 'model-00002-of-00002.safetensors'));
  });
});
