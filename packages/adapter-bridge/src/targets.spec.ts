import { ConfigError, DenseLinear, Linear, Module } from '@peft/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TargetModulesError } from './errors.js';
import {
  checkTargetModuleExists,
  expandAllLinear,
  findMinimalTargetModules,
  matchTargetModules,
  resolveTargets,
  targetCandidates,
} from './targets.js';
import { useCpuBackend } from './test-support/tf-cpu.js';
import { TinyLlamaForCausalLM } from './testing/index.js';

beforeAll(useCpuBackend);

type MatchConfig = Parameters<typeof checkTargetModuleExists>[0];
const base: MatchConfig = {
  target_modules: null,
  layers_to_transform: null,
  layers_pattern: null,
  modules_to_save: null,
};
const match = (fields: Partial<MatchConfig>, key: string) =>
  checkTargetModuleExists({ ...base, ...fields }, key);

describe('checkTargetModuleExists (PEFT semantics)', () => {
  it('matches list entries exactly or as a dotted suffix, never as a partial name', () => {
    const config = { target_modules: ['q_proj', 'mlp.up_proj'] };
    expect(match(config, 'model.layers.0.self_attn.q_proj')).toBe(true);
    expect(match(config, 'q_proj')).toBe(true);
    expect(match(config, 'model.layers.0.mlp.up_proj')).toBe(true);
    expect(match(config, 'model.layers.0.self_attn.qq_proj')).toBe(false);
    expect(match(config, 'model.layers.0.self_attn.q_proj_extra')).toBe(false);
    expect(match(config, 'model.layers.0.up_proj')).toBe(false);
  });

  it('treats a string as a regex that must match the whole path', () => {
    const config = { target_modules: '.*\\.(q|v)_proj' };
    expect(match(config, 'model.layers.3.self_attn.q_proj')).toBe(true);
    expect(match(config, 'model.layers.3.self_attn.v_proj')).toBe(true);
    expect(match(config, 'model.layers.3.self_attn.k_proj')).toBe(false);
    expect(match({ target_modules: 'q_proj' }, 'model.layers.3.self_attn.q_proj')).toBe(false);
    expect(match({ target_modules: '.*\\.(?P<name>q)_proj' }, 'a.q_proj')).toBe(true);
  });

  it('narrows list matches with layers_to_transform (int or list) and layers_pattern', () => {
    const key = (i: number) => `model.layers.${i}.self_attn.q_proj`;
    expect(match({ target_modules: ['q_proj'], layers_to_transform: 1 }, key(1))).toBe(true);
    expect(match({ target_modules: ['q_proj'], layers_to_transform: 1 }, key(0))).toBe(false);
    expect(match({ target_modules: ['q_proj'], layers_to_transform: [0, 2] }, key(2))).toBe(true);
    expect(match({ target_modules: ['q_proj'], layers_to_transform: [0, 2] }, key(1))).toBe(false);
    expect(
      match({ target_modules: ['q_proj'], layers_to_transform: [1], layers_pattern: 'layers' }, key(1)),
    ).toBe(true);
    expect(
      match({ target_modules: ['q_proj'], layers_to_transform: [1], layers_pattern: ['h'] }, key(1)),
    ).toBe(false);
    // An empty list means "all layers", as in PEFT.
    expect(match({ target_modules: ['q_proj'], layers_to_transform: [] }, key(5))).toBe(true);
  });

  it('takes the first numbered segment as the layer index, not a nested one (MoE experts)', () => {
    const config = { target_modules: ['w1'], layers_to_transform: [1] };
    expect(match(config, 'model.layers.1.experts.0.w1')).toBe(true);
    expect(match(config, 'model.layers.0.experts.1.w1')).toBe(false);
  });

  it('never matches a module listed in modules_to_save', () => {
    expect(match({ target_modules: ['lm_head'], modules_to_save: ['lm_head'] }, 'lm_head')).toBe(false);
  });

  it('never matches excluded modules (LoRA exclude_modules: names or a regex)', () => {
    const key = 'model.layers.0.self_attn.q_proj';
    expect(match({ target_modules: ['q_proj'], exclude_modules: ['self_attn.q_proj'] }, key)).toBe(false);
    expect(match({ target_modules: ['q_proj'], exclude_modules: '.*layers\\.0\\..*' }, key)).toBe(false);
    expect(match({ target_modules: ['q_proj'], exclude_modules: '.*layers\\.1\\..*' }, key)).toBe(true);
  });

  it('refuses an invalid regex with a ConfigError naming the field', () => {
    expect(() => match({ target_modules: '(unclosed' }, 'a.q_proj')).toThrow(ConfigError);
    expect(() => match({ target_modules: '(unclosed' }, 'a.q_proj')).toThrow(/target_modules/);
    expect(() => match({ target_modules: ['q_proj'], exclude_modules: '[' }, 'a.q_proj')).toThrow(
      /exclude_modules/,
    );
  });
});

describe('all-linear and target resolution', () => {
  it('expands "all-linear" to every linear layer except the output head', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    expect(expandAllLinear(model, null)).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.k_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.0.self_attn.o_proj',
      'model.layers.0.mlp.gate_proj',
      'model.layers.0.mlp.up_proj',
      'model.layers.0.mlp.down_proj',
    ]);
    model.dispose();
  });

  it('leaves a model-declared output head alone instead of lm_head', () => {
    class Classifier extends Module {
      readonly outputHeadPath = 'head';
      constructor() {
        super();
        this.registerModule('body', new Linear(DenseLinear.fromArray(new Float32Array(4), 2, 2)));
        this.registerModule('head', new Linear(DenseLinear.fromArray(new Float32Array(4), 2, 2)));
      }
    }
    const model = new Classifier();
    expect(expandAllLinear(model, null)).toEqual(['body']);
    model.dispose();
  });

  it('condenses long lists into suffixes as PEFT does (its docstring example)', () => {
    const targets = [
      ...Array.from({ length: 100 }, (_, i) => `model.decoder.layers.${i}.self_attn.q_proj`),
      ...Array.from({ length: 100 }, (_, i) => `model.decoder.layers.${i}.self_attn.v_proj`),
    ];
    const others = Array.from({ length: 100 }, (_, i) => `model.encoder.layers.${i}.self_attn.k_proj`);
    expect(findMinimalTargetModules(targets, others).sort()).toEqual(['q_proj', 'v_proj']);
  });

  it('stores "all-linear" as PEFT does: full paths below 20 layers, condensed suffixes from 20', () => {
    const small = new TinyLlamaForCausalLM({ layers: 2 });
    const few = resolveTargets(
      small,
      { ...base, target_modules: 'all-linear', task_type: null },
      undefined,
      'test',
    );
    expect(few.targetModules).toHaveLength(14);
    expect(few.paths).toEqual(few.targetModules);
    small.dispose();
    const big = new TinyLlamaForCausalLM({ layers: 3 });
    const many = resolveTargets(
      big,
      { ...base, target_modules: 'ALL-LINEAR', task_type: null },
      undefined,
      'test',
    );
    expect([...many.targetModules].sort()).toEqual(
      ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'].sort(),
    );
    expect(many.paths).toHaveLength(21);
    big.dispose();
  });

  it('uses the method default for the model type when target_modules is null', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const r = resolveTargets(model, { ...base, task_type: null }, { llama: ['q_proj', 'v_proj'] }, 'test');
    expect(r.paths).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj']);
    expect(() => resolveTargets(model, { ...base, task_type: null }, {}, '@peft/x')).toThrow(
      /no default targets/,
    );
    model.dispose();
  });

  it('matching nothing is an error that lists the modules that exist', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    const resolve = () =>
      resolveTargets(model, { ...base, target_modules: ['qkv'], task_type: null }, undefined, 'test');
    expect(resolve).toThrow(TargetModulesError);
    expect(resolve).toThrow(/matched no module[\s\S]*model\.layers\.0\.self_attn\.q_proj[\s\S]*lm_head/);
    model.dispose();
  });

  it('matching a module that is not linear is an error naming it', () => {
    const model = new TinyLlamaForCausalLM({ layers: 1 });
    expect(() =>
      resolveTargets(model, { ...base, target_modules: ['mlp'], task_type: null }, undefined, '@peft/x'),
    ).toThrow(/"model\.layers\.0\.mlp", a Mlp; @peft\/x adapts linear layers only/);
    model.dispose();
  });
});

describe('matchTargetModules (names only, no model in memory)', () => {
  const configs: MatchConfig[] = [
    { ...base, target_modules: 'all-linear' },
    { ...base, target_modules: ['q_proj', 'mlp.down_proj'], layers_to_transform: [1, 2] },
    { ...base, target_modules: '.*\\.(k|o)_proj' },
    { ...base, target_modules: null },
  ];

  it.each(configs.map((c) => [JSON.stringify(c.target_modules), c] as const))(
    'gives what resolveTargets gives on the model for target_modules %s',
    (_, config) => {
      const model = new TinyLlamaForCausalLM({ layers: 3 });
      const full = { ...config, task_type: null };
      const defaults = { llama: ['q_proj', 'v_proj'] };
      const names = targetCandidates(model).map(({ path, linear }) => ({ path, linear }));
      const fromNames = matchTargetModules(names, full, {
        outputHead: 'lm_head',
        modelType: 'llama',
        defaults,
        methodName: 'test',
      });
      expect(fromNames).toEqual(resolveTargets(model, full, defaults, 'test'));
      expect(fromNames.paths.length).toBeGreaterThan(0);
      model.dispose();
    },
  );

  it('leaves the named output head out of "all-linear" and refuses a non-linear match', () => {
    const names = [
      { path: 'body', linear: true },
      { path: 'head', linear: true },
      { path: 'block', linear: false },
    ];
    const all = { ...base, target_modules: 'all-linear', task_type: null };
    expect(matchTargetModules(names, all, { outputHead: 'head' }).paths).toEqual(['body']);
    expect(matchTargetModules(names, all, { outputHead: null }).paths).toEqual(['body', 'head']);
    expect(() =>
      matchTargetModules(names, { ...all, target_modules: ['block'] }, { outputHead: null, methodName: 'm' }),
    ).toThrow(/matched "block", a module that is not a linear layer; m adapts linear layers only/);
    expect(() =>
      matchTargetModules(names, { ...all, target_modules: ['nothing'] }, { outputHead: null }),
    ).toThrow(TargetModulesError);
  });
});
