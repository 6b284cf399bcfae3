// Small checkpoint folders on disk for the folder-function tests.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromFloat32, type HostTensor, hostTensor, type StateDict } from '@peft/core';
import { openSafetensorsFile, writeSafetensorsFile } from '@peft/core/node';

export async function tempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'peft-models-folder-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Deterministic float values in about [-1, 1]. */
export function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

export const Q = 'model.layers.0.self_attn.q_proj.';
export const UP = 'model.layers.0.mlp.up_proj.';

/** Weights of every kind the folder functions treat differently: linear (F16, BF16), embedding, head, norm, bias, integer. */
export function smallCheckpoint(): StateDict {
  return new Map<string, HostTensor>([
    ['model.embed_tokens.weight', fromFloat32(values(10 * 16, 1), [10, 16], 'F16')],
    [`${Q}weight`, fromFloat32(values(8 * 16, 2), [8, 16], 'F16')],
    [`${Q}bias`, fromFloat32(values(8, 3), [8], 'F16')],
    ['model.layers.0.input_layernorm.weight', fromFloat32(values(16, 4), [16])],
    [`${UP}weight`, fromFloat32(values(12 * 16, 5), [12, 16], 'BF16')],
    ['lm_head.weight', fromFloat32(values(10 * 16, 6), [10, 16], 'F16')],
    ['model.position_ids', hostTensor('I64', [2], new Uint8Array(16))],
  ]);
}

export const CONFIG_TEXT =
  '{\n  "model_type": "llama",\n  "rms_norm_eps": 1e-05,\n  "rope_theta": 10000.0,\n  "torch_dtype": "float16"\n}\n';

/** A single-file model folder: config.json, model.safetensors, tokenizer.json and a file no model folder copies. */
export async function modelFolder(dir: string, dict: StateDict = smallCheckpoint()): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, 'model.safetensors'), dict, { format: 'pt' });
  await writeFile(join(dir, 'config.json'), CONFIG_TEXT);
  await writeFile(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
  await writeFile(join(dir, 'pytorch_model.bin'), 'not copied');
  return dir;
}

export async function readDict(path: string): Promise<StateDict> {
  const file = await openSafetensorsFile(path);
  try {
    return await file.readAll();
  } finally {
    await file.close();
  }
}

export function hex(t: HostTensor): string {
  return `${t.dtype}${JSON.stringify(t.shape)}:${Buffer.from(t.data).toString('hex')}`;
}

/** Every file under `dir` with its bytes (hex), so "unchanged" means byte for byte. */
export async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) out[name] = (await readFile(path)).toString('hex');
  }
  return out;
}
