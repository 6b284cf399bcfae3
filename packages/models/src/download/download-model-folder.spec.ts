import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type DownloadProgress,
  downloadModelFolder,
  loadPretrainedFolder,
  writeRandomModel,
} from '../node.js';
import { useCpuBackend } from '../test-support/tf-cpu.js';
import { TINY_CONFIGS } from '../test-support/tiny-models.js';
import { type FakeHub, type FakeHubFile, filesOfFolder, startFakeHub } from './test-support/fake-hub.js';

beforeAll(useCpuBackend);

const REPO = 'peft-test/tiny-llama';
const TINY = TINY_CONFIGS['qwen2 bias tied theta 1e6']!;

let work: string;
let served: FakeHubFile[];
let hub: FakeHub | undefined;

beforeAll(async () => {
  // A sharded random model, plus files the loader does not read and the default must leave out.
  const source = await mkdtemp(join(tmpdir(), 'peft-hub-source-'));
  const written = await writeRandomModel(source, TINY, { seed: 3, dtype: 'float32', maxShardBytes: 20_000 });
  expect(written.files.length).toBeGreaterThan(1);
  await writeFile(join(source, 'pytorch_model.bin'), 'pickle bytes that must not be fetched');
  await writeFile(join(source, 'chat_template.jinja'), '{{ messages }}');
  await mkdir(join(source, 'onnx'));
  await writeFile(join(source, 'onnx', 'model.onnx'), 'onnx bytes');
  served = await filesOfFolder(source);
  await rm(source, { recursive: true, force: true });
});

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'peft-hub-download-'));
  vi.stubEnv('HF_TOKEN', '');
  vi.stubEnv('HF_ENDPOINT', '');
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await hub?.close();
  hub = undefined;
  await rm(work, { recursive: true, force: true });
});

async function serve(files = served, options: { token?: string; gated?: boolean } = {}): Promise<FakeHub> {
  hub = await startFakeHub(
    files.map((file) => ({ ...file })),
    { repo: REPO, ...options },
  );
  return hub;
}

/** Every file under `dir`, as repository paths. */
async function listed(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) =>
      join(entry.parentPath, entry.name)
        .slice(dir.length + 1)
        .split('\\')
        .join('/'),
    )
    .sort();
}

const DEFAULT_SELECTION = (files: FakeHubFile[]) =>
  files
    .map((file) => file.path)
    .filter((path) => path !== 'pytorch_model.bin' && !path.startsWith('onnx/'))
    .sort();

async function logits(dir: string): Promise<Float32Array> {
  const { model } = await loadPretrainedFolder(dir);
  const values = tf.tidy(
    () => model.forward({ inputIds: [[3, 1, 4, 1, 5]] }).logits.dataSync() as Float32Array,
  );
  model.dispose();
  return values;
}

describe('downloadModelFolder', () => {
  it('fetches what the loader reads, byte for byte, and the folder loads', async () => {
    const server = await serve();
    const dir = join(work, 'model');
    const events: DownloadProgress[] = [];
    const report = await downloadModelFolder({
      repo: REPO,
      dir,
      hubUrl: server.url,
      onProgress: (p) => events.push(p),
    });

    expect(await listed(dir)).toEqual(DEFAULT_SELECTION(served));
    for (const path of await listed(dir)) {
      const original = served.find((file) => file.path === path)!;
      expect(new Uint8Array(await readFile(join(dir, path)))).toEqual(original.bytes);
    }
    expect(server.downloads.has('pytorch_model.bin')).toBe(false);
    expect(report.files.every((file) => file.status === 'downloaded')).toBe(true);
    const total = served
      .filter((file) => DEFAULT_SELECTION(served).includes(file.path))
      .reduce((s, f) => s + f.bytes.byteLength, 0);
    expect(report.downloadedBytes).toBe(total);
    expect(events.at(-1)).toMatchObject({ status: 'done', bytesDone: total, totalBytes: total });
    // config.json comes last, so a folder with a config has the weights it describes.
    expect(report.files.at(-1)?.path).toBe('config.json');

    const { model } = await loadPretrainedFolder(dir);
    expect(model.config.numHiddenLayers).toBeGreaterThan(0);
    model.dispose();
  });

  it('fetches only the files include names, keeping sub-folders', async () => {
    const server = await serve();
    const dir = join(work, 'some');
    await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url, include: ['tokenizer.json', 'onnx/*'] });
    expect(await listed(dir)).toEqual(['onnx/model.onnx', 'tokenizer.json']);
    expect([...server.downloads.keys()].sort()).toEqual(['onnx/model.onnx', 'tokenizer.json']);
  });

  it('a second run downloads nothing; a changed local file is fetched again', async () => {
    const server = await serve();
    const dir = join(work, 'model');
    await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url });
    const firstRun = new Map(server.downloads);

    const again = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url });
    expect(server.downloads).toEqual(firstRun);
    expect(again.files.every((file) => file.status === 'skipped')).toBe(true);
    expect(again.downloadedBytes).toBe(0);

    // Same size, different bytes: the hash check catches it.
    const shard = served.find((file) => file.path.endsWith('.safetensors'))!;
    const tampered = new Uint8Array(shard.bytes);
    tampered[tampered.length - 1] = (tampered.at(-1) as number) ^ 0xff;
    await writeFile(join(dir, shard.path), tampered);
    const config = new TextEncoder().encode(
      (await readFile(join(dir, 'config.json'), 'utf8')).replace('"', "'"),
    );
    await writeFile(join(dir, 'config.json'), config);
    const repaired = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url });
    expect(
      repaired.files
        .filter((file) => file.status === 'downloaded')
        .map((file) => file.path)
        .sort(),
    ).toEqual(['config.json', shard.path].sort());
    expect(new Uint8Array(await readFile(join(dir, shard.path)))).toEqual(shard.bytes);
  });

  it('an interrupted download leaves no file under its name, and a rerun completes it', async () => {
    const server = await serve();
    const dir = join(work, 'model');
    const shard = served.filter((file) => file.path.endsWith('.safetensors')).at(-1)!;
    server.dropOnce.add(shard.path);

    const error = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HUB_NETWORK', file: shard.path });
    expect((error as Error).message).toContain(shard.path);
    const afterFailure = await listed(dir);
    expect(afterFailure).not.toContain(shard.path);
    // The temp file is removed too: only complete files are left.
    expect(afterFailure.every((path) => DEFAULT_SELECTION(served).includes(path))).toBe(true);
    expect(afterFailure).not.toContain('config.json');

    const before = new Map(server.downloads);
    const rerun = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url });
    for (const path of afterFailure) expect(server.downloads.get(path)).toBe(before.get(path));
    expect(rerun.files.find((file) => file.path === shard.path)?.status).toBe('downloaded');
    expect(await listed(dir)).toEqual(DEFAULT_SELECTION(served));

    const reference = join(work, 'reference');
    await downloadModelFolder({ repo: REPO, dir: reference, hubUrl: server.url });
    expect(await logits(dir)).toEqual(await logits(reference));
  });

  it('401 says to set HF_TOKEN; the token from HF_TOKEN is sent', async () => {
    const server = await serve(served, { token: 'hf_secret' });
    const dir = join(work, 'model');
    const error = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'HubDownloadError', code: 'HUB_UNAUTHORIZED', status: 401 });
    expect((error as Error).message).toContain('Set HF_TOKEN');

    vi.stubEnv('HF_TOKEN', 'hf_secret');
    const report = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url });
    expect(report.files.length).toBe(DEFAULT_SELECTION(served).length);
  });

  it('403 (gated) says to accept the terms', async () => {
    const server = await serve(served, { gated: true });
    const error = await downloadModelFolder({ repo: REPO, dir: join(work, 'm'), hubUrl: server.url }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'HUB_FORBIDDEN', status: 403 });
    expect((error as Error).message).toMatch(/gated.*Accept its terms.*HF_TOKEN/);
  });

  it.each(['../evil.json', 'sub/../../evil.json', '/tmp/evil.json', 'a\\..\\evil.json', './config.json'])(
    'refuses a listing naming %s and writes nothing',
    async (hostile) => {
      const server = await serve();
      server.extraListing.push({ type: 'file', oid: 'a'.repeat(40), size: 4, path: hostile });
      const dir = join(work, 'inner', 'model');
      const error = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'HUB_LISTING_INVALID', file: hostile });
      expect(await readdir(work)).toEqual([]);
      expect(server.downloads.size).toBe(0);
    },
  );

  it('a repository without safetensors weights names pytorch_model.bin and converting', async () => {
    const server = await serve(served.filter((file) => !file.path.includes('safetensors')));
    const error = await downloadModelFolder({ repo: REPO, dir: join(work, 'm'), hubUrl: server.url }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'HUB_NO_SAFETENSORS' });
    expect((error as Error).message).toMatch(/pytorch_model\.bin.*does not read.*convert/);
    expect(server.downloads.size).toBe(0);
  });

  it('bytes that do not match the listed hash are not kept', async () => {
    const server = await serve();
    const shard = served.find((file) => file.path.endsWith('.safetensors'))!;
    const wrong = new Uint8Array(shard.bytes);
    wrong[100] = (wrong[100] as number) ^ 1;
    server.corrupt.set(shard.path, wrong);
    const dir = join(work, 'model');
    const error = await downloadModelFolder({ repo: REPO, dir, hubUrl: server.url }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HUB_FILE_MISMATCH', file: shard.path });
    expect(await listed(dir)).not.toContain(shard.path);
  });

  it('an unreachable hub is a network error, not a crash', async () => {
    const server = await serve();
    const url = server.url;
    await server.close();
    hub = undefined;
    const error = await downloadModelFolder({ repo: REPO, dir: join(work, 'm'), hubUrl: url }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'HUB_NETWORK' });
    expect((error as Error).message).toContain(`listing the files of ${REPO}@main`);
  });

  it.each([
    ['not a repo id', { repo: 'a b' }],
    ['a path-like repo id', { repo: '../x' }],
    ['a revision with ..', { revision: '../../etc' }],
    ['a token that is not an hf_ token', { token: 'secret' }],
  ])('refuses %s before any request', async (_, override) => {
    const server = await serve();
    const error = await downloadModelFolder({
      repo: REPO,
      dir: join(work, 'm'),
      hubUrl: server.url,
      ...override,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HUB_BAD_REQUEST' });
    expect(server.requests).toEqual([]);
  });
});
