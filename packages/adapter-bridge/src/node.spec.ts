import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeftError } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterFileError } from './errors.js';
import { MODEL_CARD_MARKER } from './model-card.js';
import { loadAdapter, peftModelFromFolder, savePretrained } from './node.js';
import { getPeftModel } from './peft-model.js';
import { registerPeftMethod } from './registry.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { type ToyLayer, toyConfig, toyMethod } from './test-support/toy-method.js';
import { TinyLlamaForCausalLM } from './testing/index.js';

let dir: string;
beforeAll(async () => {
  await useCpuBackend();
  registerPeftMethod(toyMethod);
  dir = await mkdtemp(join(tmpdir(), 'peft-bridge-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function outputs(model: TinyLlamaForCausalLM): number[] {
  return tf.tidy(() => Array.from(model.forward(tf.ones([2, 16])).dataSync()));
}

describe('adapter folders on disk', () => {
  it('saves as PEFT lays them out and loads them back, also a second adapter', async () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'] }));
    peft.addAdapter('second', toyConfig({ target_modules: ['v_proj'], scale: 3 }));
    const u = (peft.adapterLayers()[0]![1].adapter('default') as ToyLayer).u;
    const bumped = tf.add(u, 0.5);
    u.assign(bumped);
    bumped.dispose();
    const out = join(dir, 'saved');
    const written = await savePretrained(peft, out);
    expect(written.map((p) => p.slice(out.length + 1)).sort()).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      join('second', 'adapter_config.json'),
      join('second', 'adapter_model.safetensors'),
    ]);
    // No temp files left behind by the atomic writes.
    expect((await readdir(out)).sort()).toEqual([
      'README.md',
      'adapter_config.json',
      'adapter_model.safetensors',
      'second',
    ]);
    const expected = outputs(model);
    peft.setAdapter('second');
    const expectedSecond = outputs(model);

    const loaded = await peftModelFromFolder(new TinyLlamaForCausalLM({ layers: 1 }), out);
    expect(outputs(loaded.model as TinyLlamaForCausalLM)).toEqual(expected);
    await loadAdapter(loaded, join(out, 'second'), { adapterName: 'second' });
    loaded.setAdapter('second');
    expect(outputs(loaded.model as TinyLlamaForCausalLM)).toEqual(expectedSecond);

    // Saving again replaces the files in place.
    const config = await readFile(join(out, 'adapter_config.json'), 'utf8');
    await savePretrained(peft, out);
    expect(await readFile(join(out, 'adapter_config.json'), 'utf8')).toBe(config);
    peft.dispose();
    loaded.dispose();
  });

  it('reports a missing folder or file by path and refuses subfolders that escape', async () => {
    await expect(peftModelFromFolder(new TinyLlamaForCausalLM(), join(dir, 'nope'))).rejects.toThrow(
      AdapterFileError,
    );
    const half = join(dir, 'half');
    await savePretrained(
      getPeftModel(new TinyLlamaForCausalLM({ layers: 1 }), toyConfig({ target_modules: ['q_proj'] })),
      half,
    );
    await rm(join(half, 'adapter_model.safetensors'));
    await expect(peftModelFromFolder(new TinyLlamaForCausalLM({ layers: 1 }), half)).rejects.toThrow(
      /half\/adapter_model\.safetensors: missing/,
    );
    await writeFile(join(half, 'adapter_model.safetensors'), new Uint8Array(3));
    await expect(peftModelFromFolder(new TinyLlamaForCausalLM({ layers: 1 }), half)).rejects.toThrow(
      /too small/,
    );
    await expect(
      peftModelFromFolder(new TinyLlamaForCausalLM(), dir, { subfolder: '../..' }),
    ).rejects.toThrow(/must not contain/);
  });
});

describe('adapter files that are not regular files', () => {
  /** A saved adapter folder whose `name` is replaced by what `replace(path)` puts there. */
  async function folderWith(
    label: string,
    name: 'adapter_config.json' | 'adapter_model.safetensors',
    replace: (path: string) => Promise<void>,
  ): Promise<string> {
    const folder = join(dir, label);
    const peft = getPeftModel(
      new TinyLlamaForCausalLM({ layers: 1 }),
      toyConfig({ target_modules: ['q_proj'] }),
    );
    await savePretrained(peft, folder);
    peft.dispose();
    await rm(join(folder, name));
    await replace(join(folder, name));
    return folder;
  }

  async function loadError(folder: string): Promise<PeftError> {
    const error = await peftModelFromFolder(new TinyLlamaForCausalLM({ layers: 1 }), folder).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PeftError);
    return error as PeftError;
  }

  const names = ['adapter_config.json', 'adapter_model.safetensors'] as const;

  it.each(names)('%s as a symbolic link to a folder is refused naming the path', async (name) => {
    const folder = await folderWith(`link-to-folder-${name}`, name, async (path) => {
      await mkdir(`${path}.d`);
      await symlink(`${path}.d`, path);
    });
    const error = await loadError(folder);
    expect(error).toBeInstanceOf(AdapterFileError);
    expect((error as AdapterFileError).file).toBe(join(folder, name));
    expect(error.message).toMatch(/is a folder, not a regular file/);
  });

  it.each(names)('%s as a dangling symbolic link is refused naming the link and its target', async (name) => {
    const folder = await folderWith(`dangling-${name}`, name, (path) => symlink(join(dir, 'gone'), path));
    const error = await loadError(folder);
    expect(error).toBeInstanceOf(AdapterFileError);
    expect(error.message).toContain(join(folder, name));
    expect(error.message).toMatch(/symbolic link to ".*gone", which does not exist/);
  });

  it.runIf(existsSync('/dev/zero')).each(names)(
    '%s as a link to /dev/zero is refused without reading it',
    async (name) => {
      const folder = await folderWith(`dev-zero-${name}`, name, (path) => symlink('/dev/zero', path));
      const error = await loadError(folder);
      expect(error.message).toMatch(/is a character device, not a regular file/);
    },
  );

  const hasMkfifo = (() => {
    try {
      execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.runIf(hasMkfifo).each(names)(
    '%s as a FIFO with no writer is refused instead of waiting',
    async (name) => {
      const folder = await folderWith(`fifo-${name}`, name, async (path) => {
        execFileSync('mkfifo', [path]);
      });
      const error = await loadError(folder);
      expect(error.message).toMatch(/is a named pipe \(FIFO\), not a regular file/);
    },
  );

  it('follows a symbolic link to a regular file (as in the Hugging Face cache)', async () => {
    const blobs = join(dir, 'blobs');
    await mkdir(blobs, { recursive: true });
    const folder = await folderWith('linked-blobs', 'adapter_model.safetensors', async (path) => {
      const peft = getPeftModel(
        new TinyLlamaForCausalLM({ layers: 1 }),
        toyConfig({ target_modules: ['q_proj'] }),
      );
      await savePretrained(peft, join(blobs, 'saved'));
      peft.dispose();
      await symlink(join(blobs, 'saved', 'adapter_model.safetensors'), path);
    });
    const loaded = await peftModelFromFolder(new TinyLlamaForCausalLM({ layers: 1 }), folder);
    expect(loaded.adapterLayers()).toHaveLength(1);
    loaded.dispose();
  });

  it('refuses an oversized config and a weights header that claims more than the file holds', async () => {
    const big = await folderWith('big-config', 'adapter_config.json', async (path) => {
      await writeFile(path, '{}');
      await truncate(path, 64 * 1024 * 1024); // sparse: no disk space used
    });
    expect((await loadError(big)).message).toMatch(/adapter_config\.json: is 67108864 bytes, more than/);

    const lying = await folderWith('lying-header', 'adapter_model.safetensors', async (path) => {
      const header = new TextEncoder().encode(
        '{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}',
      );
      const prefix = new Uint8Array(8);
      new DataView(prefix.buffer).setUint32(0, header.byteLength, true);
      await writeFile(path, new Uint8Array([...prefix, ...header]));
    });
    const error = await loadError(lying);
    expect(error.code).toBe('SAFETENSORS_INVALID');
    expect(error.message).toContain(join(lying, 'adapter_model.safetensors'));
  });
});

describe('the model card README.md', () => {
  function namedModel(): TinyLlamaForCausalLM {
    return Object.assign(new TinyLlamaForCausalLM({ layers: 1 }), { nameOrPath: 'org/tiny-base' });
  }

  it('is written beside the adapter with PEFT front matter, and refreshed when it is ours', async () => {
    const out = join(dir, 'card');
    const peft = getPeftModel(
      namedModel(),
      toyConfig({ target_modules: ['q_proj'], task_type: 'CAUSAL_LM' }),
    );
    await savePretrained(peft, out);
    const card = await readFile(join(out, 'README.md'), 'utf8');
    const front = card.split('---\n')[1];
    expect(front).toBe(
      [
        'base_model: org/tiny-base',
        'library_name: peft',
        'pipeline_tag: text-generation',
        'tags:',
        '- base_model:adapter:org/tiny-base',
        '- toy',
        '- peft-js',
        '',
      ].join('\n'),
    );
    expect(card).toContain(MODEL_CARD_MARKER);
    expect(card).toContain('# TOY adapter for org/tiny-base');

    // Ours: saved again (with another adapter now), it is regenerated.
    peft.addAdapter('second', toyConfig({ target_modules: ['v_proj'] }));
    await savePretrained(peft, out);
    expect(await readFile(join(out, 'README.md'), 'utf8')).toContain('`second` (in `second/`)');
    peft.dispose();
  });

  it('never replaces a README.md the user wrote, and is left out on request', async () => {
    const out = join(dir, 'user-card');
    await mkdir(out, { recursive: true });
    const mine = '# My adapter\n\nNotes I wrote by hand.\n';
    await writeFile(join(out, 'README.md'), mine);
    const peft = getPeftModel(namedModel(), toyConfig({ target_modules: ['q_proj'] }));
    const written = await savePretrained(peft, out);
    expect(written.some((p) => p.endsWith('README.md'))).toBe(false);
    expect(await readFile(join(out, 'README.md'), 'utf8')).toBe(mine);

    const bare = join(dir, 'no-card');
    await savePretrained(peft, bare, { modelCard: false });
    expect((await readdir(bare)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    peft.dispose();
  });

  it('leaves the base model out when it is unknown', async () => {
    const out = join(dir, 'anonymous-card');
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    Object.defineProperty(model, 'nameOrPath', { value: undefined });
    const peft = getPeftModel(model, toyConfig({ target_modules: ['q_proj'] }));
    await savePretrained(peft, out);
    const card = await readFile(join(out, 'README.md'), 'utf8');
    expect(card.split('---\n')[1]).toBe(['library_name: peft', 'tags:', '- toy', '- peft-js', ''].join('\n'));
    peft.dispose();
  });
});
