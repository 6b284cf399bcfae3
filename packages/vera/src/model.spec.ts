import {
  AdapterMismatchError,
  getPeftModel,
  type PeftModel,
  type PeftWarning,
  peftModelFromFiles,
  saveAdapterFiles,
  setWarningHandler,
} from '@peft/adapter-bridge';
import {
  finiteDifferenceGradient,
  Int8RowsLinear,
  mseLoss,
  regressionTask,
  TinyLlamaForCausalLM,
  trainMse,
} from '@peft/adapter-bridge/testing';
import { DenseLinear, parseSafetensors, serializeSafetensors } from '@peft/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { projectionArrays, type VeraLayer, type VeraSharedState, veraConfig } from './index.js';
import { useCpuBackend } from './test-support/tf-cpu.js';

beforeAll(useCpuBackend);

const warnings: PeftWarning[] = [];
setWarningHandler((w) => warnings.push(w));
afterEach(() => {
  warnings.length = 0;
});

const trees = {
  dense: () => new TinyLlamaForCausalLM(),
  // Attention layers dense, MLP and head in a (test-only) flat-stored 8-bit format.
  mixed: () =>
    new TinyLlamaForCausalLM({
      makeLayer: (w, out, inF, path) =>
        path.includes('self_attn')
          ? DenseLinear.fromArray(w, out, inF)
          : Int8RowsLinear.quantize(w, out, inF),
    }),
};

function outputs(peft: PeftModel, x: tf.Tensor): number[] {
  return tf.tidy(() => Array.from((peft.model as TinyLlamaForCausalLM).forward(x).dataSync()));
}

describe.each(Object.entries(trees))('VeRA "all-linear" on the %s Llama-shaped tree', (_name, makeTree) => {
  it('sizes the shared projections from the largest LOGICAL dims, trains, and reloads exactly', async () => {
    const model = makeTree();
    const peft = getPeftModel(model, veraConfig({ r: 8, target_modules: 'all-linear' }));
    // q/k/v/o/gate/up read 16 features, down reads 24; outputs are 16, 8, 24: A (8, 24), B (24, 8).
    const { projections } = peft.sharedState('default') as VeraSharedState;
    expect([projections.r, projections.maxIn, projections.maxOut]).toEqual([8, 24, 24]);
    expect(peft.adapterLayers()).toHaveLength(14);
    // Per layer out + r: (16 + 8 + 8 + 16 + 24 + 24 + 16) + 7 x 8 = 168, two decoder layers.
    expect(peft.trainableParametersSummary()).toMatch(/^trainable params: 336 \|\| all params: /);

    const { x, target } = regressionTask(model);
    const { losses, tensors } = trainMse(peft, x, target, 100);
    expect(losses[99]!).toBeLessThan(losses[0]! * 0.5);
    // No tensor leaks: after the optimizer's first step created its slots, the count is flat.
    expect(tensors[99]).toBe(tensors[1]);

    const expected = outputs(peft, x);
    const files = saveAdapterFiles(peft);
    const st = parseSafetensors(files.get('adapter_model.safetensors')!);
    expect(st.info('base_model.vera_A').shape).toEqual([8, 24]);
    expect(st.info('base_model.vera_B').shape).toEqual([24, 8]);
    expect(st.info('base_model.model.model.layers.1.mlp.down_proj.vera_lambda_b').shape).toEqual([16]);
    expect(st.info('base_model.model.model.layers.1.mlp.down_proj.vera_lambda_d').shape).toEqual([8]);
    expect(st.keys()).toHaveLength(2 + 14 * 2);

    const reloaded = await peftModelFromFiles(makeTree(), files);
    expect(outputs(reloaded, x)).toEqual(expected);
    tf.dispose([x, target]);
    peft.dispose();
    reloaded.dispose();
  });
});

describe('VeRA gradients through a quantized base', () => {
  it('matches finite differences for λ_b and λ_d', () => {
    const model = trees.mixed();
    const peft = getPeftModel(
      model,
      veraConfig({ r: 4, target_modules: ['down_proj', 'o_proj'], init_weights: false }),
    );
    const { x, target } = regressionTask(model, 3);
    const layer = peft.adapterLayers().find(([p]) => p === 'model.layers.0.mlp.down_proj')![1];
    expect(layer.base.scheme).toBe('test-int8-rows');
    const vera = layer.adapter('default') as VeraLayer;
    const loss = () => mseLoss(model, x, target);
    const { grads } = tf.variableGrads(loss, [vera.lambdaB, vera.lambdaD]);
    for (const v of [vera.lambdaB, vera.lambdaD]) {
      const analytic = grads[v.name]!.dataSync();
      const numeric = finiteDifferenceGradient(loss, v, 1e-2);
      const scale = Math.max(...Array.from(numeric, Math.abs));
      expect(scale).toBeGreaterThan(1e-4);
      for (const [i, n] of numeric.entries())
        expect(Math.abs(analytic[i]! - n)).toBeLessThan(2e-3 * scale + 1e-5);
    }
    tf.dispose([x, target, ...Object.values(grads)]);
    peft.dispose();
  });
});

describe('VeRA merge', () => {
  it('merges into dense layers exactly and warns that quantized merges are lossy', () => {
    for (const [name, makeTree] of Object.entries(trees)) {
      const model = makeTree();
      const peft = getPeftModel(
        model,
        veraConfig({ r: 4, target_modules: 'all-linear', init_weights: false }),
      );
      const { x } = regressionTask(model, 2);
      const adapted = outputs(peft, x);
      peft.merge();
      const merged = outputs(peft, x);
      const diff = Math.max(...merged.map((v, i) => Math.abs(v - adapted[i]!)));
      if (name === 'dense') {
        expect(diff).toBeLessThan(1e-4);
        expect(warnings.some((w) => w.code === 'LOSSY_MERGE')).toBe(false);
      } else {
        expect(warnings.some((w) => w.code === 'LOSSY_MERGE')).toBe(true);
        expect(diff).toBeLessThan(0.2);
      }
      peft.unmerge();
      expect(outputs(peft, x)).toEqual(adapted);
      x.dispose();
      peft.dispose();
      warnings.length = 0;
    }
  });
});

describe('several VeRA adapters (PEFT rules)', () => {
  it('share the first adapter projections and refuse a different key, save_projection, rank or wider targets', () => {
    const model = new TinyLlamaForCausalLM();
    const peft = getPeftModel(model, veraConfig({ r: 4, target_modules: ['q_proj', 'down_proj'] }));
    peft.addAdapter('second', veraConfig({ r: 4, target_modules: ['q_proj'] }));
    const first = peft.sharedState('default') as VeraSharedState;
    const second = peft.sharedState('second') as VeraSharedState;
    expect(second.projections).toBe(first.projections);
    expect(() =>
      peft.addAdapter('k', veraConfig({ r: 4, target_modules: ['q_proj'], projection_prng_key: 1 })),
    ).toThrow(/PRNG initialisation key must be the same for all adapters/);
    expect(() =>
      peft.addAdapter('s', veraConfig({ r: 4, target_modules: ['q_proj'], save_projection: false })),
    ).toThrow(/must be saved for all adapters or none/);
    expect(() => peft.addAdapter('r', veraConfig({ r: 8, target_modules: ['q_proj'] }))).toThrow(
      /r 8.*rank 4/,
    );
    // up_proj has out 24 > the first adapter's max_out 16.
    expect(() => peft.addAdapter('w', veraConfig({ r: 4, target_modules: ['up_proj'] }))).toThrow(
      /needs projections of at least \(out 24, in 16\).*cover \(out 16, in 24\)/,
    );
    expect([...peft.peftConfig.keys()]).toEqual(['default', 'second']);
    // Deleting one adapter keeps the shared projections alive for the other.
    peft.deleteAdapter('default');
    const x = tf.ones([1, 16]);
    peft.setAdapter('second');
    expect(() => outputs(peft, x)).not.toThrow();
    x.dispose();
    peft.dispose();
  });
});

describe('VeRA projections on save and load', () => {
  it('save_projection false: no projections in the file, regenerated from the key on load (with a warning)', async () => {
    const model = new TinyLlamaForCausalLM();
    const peft = getPeftModel(
      model,
      veraConfig({ r: 4, target_modules: 'all-linear', save_projection: false, init_weights: false }),
    );
    expect(warnings.map((w) => w.code)).toContain('VERA_PROJECTION_FROM_PRNG');
    const files = saveAdapterFiles(peft);
    const st = parseSafetensors(files.get('adapter_model.safetensors')!);
    expect(st.keys().filter((k) => k.includes('vera_A') || k.includes('vera_B'))).toEqual([]);
    const x = tf.ones([2, 16]);
    const reloaded = await peftModelFromFiles(new TinyLlamaForCausalLM(), files);
    expect(outputs(reloaded, x)).toEqual(outputs(peft, x));

    // A file that carries projections anyway: ignored with a warning, as in PEFT.
    const dict = await st.readAll();
    dict.set('base_model.vera_A', { dtype: 'F32', shape: [4, 24], data: new Uint8Array(4 * 24 * 4) });
    files.set('adapter_model.safetensors', serializeSafetensors(dict, { format: 'pt' }));
    warnings.length = 0;
    const again = await peftModelFromFiles(new TinyLlamaForCausalLM(), files);
    expect(warnings.map((w) => w.code)).toContain('IGNORED_TENSOR');
    expect(outputs(again, x)).toEqual(outputs(peft, x));
    x.dispose();
    for (const p of [peft, reloaded, again]) p.dispose();
  });

  it('save_projection true: the saved projections are used (not the PRNG ones), and missing ones are an error', async () => {
    const model = new TinyLlamaForCausalLM();
    // Saved from the nofma stream, loaded with a config that says fma: the file must win.
    const peft = getPeftModel(
      model,
      veraConfig({ r: 4, target_modules: 'all-linear', init_weights: false, projection_prng_mode: 'nofma' }),
    );
    const files = saveAdapterFiles(peft);
    const json = JSON.parse(new TextDecoder().decode(files.get('adapter_config.json')));
    expect(json.projection_prng_mode).toBe('nofma');
    delete json.projection_prng_mode;
    files.set('adapter_config.json', new TextEncoder().encode(JSON.stringify(json)));
    const reloaded = await peftModelFromFiles(new TinyLlamaForCausalLM(), files);
    const saved = projectionArrays((peft.sharedState('default') as VeraSharedState).projections);
    const loaded = projectionArrays((reloaded.sharedState('default') as VeraSharedState).projections);
    expect(loaded.A).toEqual(saved.A);
    expect(loaded.B).toEqual(saved.B);

    const dict = await parseSafetensors(files.get('adapter_model.safetensors')!).readAll();
    dict.delete('base_model.vera_A');
    dict.delete('base_model.vera_B');
    files.set('adapter_model.safetensors', serializeSafetensors(dict, { format: 'pt' }));
    const error = await peftModelFromFiles(new TinyLlamaForCausalLM(), files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterMismatchError);
    expect((error as AdapterMismatchError).problems).toEqual([
      'missing tensor "base_model.vera_A" (expected shape [4, 24])',
      'missing tensor "base_model.vera_B" (expected shape [24, 4])',
    ]);
    peft.dispose();
    reloaded.dispose();
  });

  it('refuses projections saved for a model with other dimensions, naming them', async () => {
    const small = new TinyLlamaForCausalLM({ intermediate: 16 });
    const peft = getPeftModel(small, veraConfig({ r: 4, target_modules: 'all-linear' }));
    const files = saveAdapterFiles(peft);
    const error = await peftModelFromFiles(new TinyLlamaForCausalLM(), files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterMismatchError);
    const problems = (error as AdapterMismatchError).problems.join('\n');
    expect(problems).toMatch(/"base_model\.vera_A" has shape \[4, 16\], the model expects \[4, 24\]/);
    expect(problems).toMatch(
      /"base_model\.model\.model\.layers\.0\.mlp\.up_proj\.vera_lambda_b" has shape \[16\], the model expects \[24\]/,
    );
    peft.dispose();
  });
});
