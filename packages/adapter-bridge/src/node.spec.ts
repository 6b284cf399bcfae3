import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterFileError } from './errors.js';
import { fromPretrained, loadAdapter, savePretrained } from './node.js';
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
      'adapter_config.json',
      'adapter_model.safetensors',
      join('second', 'adapter_config.json'),
      join('second', 'adapter_model.safetensors'),
    ]);
    // No temp files left behind by the atomic writes.
    expect((await readdir(out)).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'second',
    ]);
    const expected = outputs(model);
    peft.setAdapter('second');
    const expectedSecond = outputs(model);

    const loaded = await fromPretrained(new TinyLlamaForCausalLM({ layers: 1 }), out);
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
    await expect(fromPretrained(new TinyLlamaForCausalLM(), join(dir, 'nope'))).rejects.toThrow(
      AdapterFileError,
    );
    const half = join(dir, 'half');
    await savePretrained(
      getPeftModel(new TinyLlamaForCausalLM({ layers: 1 }), toyConfig({ target_modules: ['q_proj'] })),
      half,
    );
    await rm(join(half, 'adapter_model.safetensors'));
    await expect(fromPretrained(new TinyLlamaForCausalLM({ layers: 1 }), half)).rejects.toThrow(
      /half\/adapter_model\.safetensors: missing/,
    );
    await writeFile(join(half, 'adapter_model.safetensors'), new Uint8Array(3));
    await expect(fromPretrained(new TinyLlamaForCausalLM({ layers: 1 }), half)).rejects.toThrow(/too small/);
    await expect(fromPretrained(new TinyLlamaForCausalLM(), dir, { subfolder: '../..' })).rejects.toThrow(
      /must not contain/,
    );
  });
});
