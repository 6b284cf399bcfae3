// The promise of the generators: a newcomer starts from green tests, and the apps take the new package
// with no edit of their own. In a temporary copy of the workspace (never the real tree), generate a
// method and a quantizer with the same command line the root scripts use, install, build, type-check and
// lint them, and run their tests, whose matrix rows must all pass; then load each into the copy's `peft`
// command line with --plugin, plan, train, quantize, evaluate and generate with it, and check that nothing
// under apps/ or tools/ changed.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LinearShape,
  mustPeft,
  peft,
  peftJson,
  runCliScript,
  safetensorsElements,
  safetensorsHeader,
  TINY_LLAMA,
  tinyLlamaLinears,
  tinyLlamaOtherParameters,
  writeTextRows,
  writeTinyLlama,
} from './test-support/peft-cli.js';
import {
  changedFiles,
  commitBaseline,
  copyWorkingTree,
  mustRun,
  REPO_ROOT,
  run,
} from './test-support/workspace-copy.js';

/**
 * What the generated packages and the CLI build on, already built in the real workspace (turbo builds a
 * package's dependencies, these among them, before its tests).
 */
const BUILT = [
  'packages/core',
  'packages/backends',
  'packages/quant-bnb4',
  'packages/adapter-bridge',
  'packages/vera',
  'packages/lora',
  'packages/models',
  'packages/training',
  'apps/cli',
  'tools/test-matrix',
];

const GENERATED = [
  {
    kind: 'method',
    name: 'sample_method',
    pkg: '@peft/sample_method',
    dir: 'packages/sample_method',
    peftType: 'SAMPLE_METHOD',
    matrixCells: 5 * 4,
  },
  {
    kind: 'quantizer',
    name: 'int8-sample',
    pkg: '@peft/quant-int8-sample',
    dir: 'packages/quant-int8-sample',
    peftType: null,
    matrixCells: 2 * 4,
  },
] as const;

interface VitestJson {
  numFailedTests: number;
  numPassedTests: number;
  numPendingTests: number;
  testResults: { assertionResults: { fullName: string; status: string }[] }[];
}

let copy = '';
const generatorOutput = new Map<string, string>();

beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), 'peft-generators-e2e-'));
  await copyWorkingTree(
    copy,
    BUILT.map((dir) => `${dir}/dist`),
  );
  await commitBaseline(copy);
  const install = (filters: string[]) =>
    mustRun(
      'pnpm',
      [
        'install',
        '--prefer-offline',
        '--ignore-scripts',
        '--no-frozen-lockfile',
        ...filters.flatMap((f) => ['--filter', f]),
      ],
      copy,
    );
  // The workspace as a contributor has it before generating (the generator formats with its Biome) ...
  await install(['@peft/test-matrix...', '@peft/generators']);
  await mustRun('pnpm', ['--filter', '@peft/generators', 'run', 'build'], copy);
  for (const { kind, name } of GENERATED) {
    generatorOutput.set(
      name,
      await mustRun(process.execPath, ['tools/generators/dist/bin.js', kind, name], copy),
    );
  }
  // ... and the `pnpm install` its next steps ask for (with the CLI's dependencies, to try them in it) ...
  await install([...GENERATED.map(({ pkg }) => `${pkg}...`), '@peft/cli...']);
  // ... and their build.
  for (const { dir } of GENERATED) await mustRun('pnpm', ['run', 'build'], join(copy, dir));
});

afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

describe.each(GENERATED)('a generated $kind ($pkg)', ({ name, pkg, dir, matrixCells }) => {
  it('is announced with the files written and the next steps', () => {
    const output = generatorOutput.get(name)!;
    expect(output).toContain(`created ${pkg}`);
    expect(output).toContain(`${dir}/src/index.ts`);
    expect(output).toContain(`pnpm --filter ${pkg} test`);
  });

  it('builds, type-checks, passes biome and publint', async () => {
    const pkgDir = join(copy, dir);
    expect(existsSync(join(pkgDir, 'dist', 'index.js'))).toBe(true);
    await mustRun('pnpm', ['run', 'typecheck'], pkgDir);
    await mustRun(join(copy, 'node_modules', '.bin', 'biome'), ['check', dir], copy);
    const publint = await mustRun(join(copy, 'node_modules', '.bin', 'publint'), ['--strict'], pkgDir);
    expect(publint).not.toMatch(/Errors:|Warnings:|Suggestions:/);
    const manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
    expect(manifest.sideEffects).toEqual(['./dist/index.js']);
  });

  it('passes its own tests and every one of its rows in the shared matrix', async () => {
    const report = join(copy, `${name}-vitest.json`);
    const result = await run(
      join(copy, 'node_modules', '.bin', 'vitest'),
      ['run', '--reporter=json', `--outputFile=${report}`],
      join(copy, dir),
    );
    const json = JSON.parse(await readFile(report, 'utf8')) as VitestJson;
    const tests = json.testResults.flatMap((file) => file.assertionResults);
    const failed = tests.filter((t) => t.status !== 'passed').map((t) => `${t.status}: ${t.fullName}`);
    expect(failed, result.output.slice(-6000)).toEqual([]);
    expect(result.code).toBe(0);
    const cells = tests.filter((t) =>
      /^method \S+ on \S+ (forward|backward|save\/load|merge\/unmerge)$/.test(t.fullName),
    );
    expect(cells).toHaveLength(matrixCells);
    expect(tests.length).toBeGreaterThan(matrixCells + 3);
  });
});

/** The fields of `peft plan --json` these tests read. */
interface PlanJson {
  trainable_params: number;
  base_bytes: { quantized: Record<string, number> };
  adapter: {
    peft_type: string;
    r: number | null;
    target_modules: string[] | string;
    targeted_layers: number;
    trainable_params: number;
    adapter_bytes: number;
  };
  training_memory: { quantize: string; base: number; method_buffers: number };
}

interface EvalJson {
  loss: number;
  tokens: number;
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

/** What the generated method says of itself through the adapter bridge (its contract v2 parameter counts). */
const METHOD_COUNTS = `
import { pathToFileURL } from 'node:url';
import { adapterConfigFromOptions, methodByName } from '@peft/adapter-bridge';
const [entry, name, options, targets] = process.argv.slice(1);
await import(pathToFileURL(entry).href);
const config = adapterConfigFromOptions(name, JSON.parse(options));
process.stdout.write(JSON.stringify(methodByName(name).training.parameterCounts(config, JSON.parse(targets))));
`;

/** What the generated quantizer says of itself through @peft/core's registry. */
const QUANTIZER_FACTS = `
import { pathToFileURL } from 'node:url';
import { getQuantizer } from '@peft/core';
const [entry, name, modelDtype, linears] = process.argv.slice(1);
await import(pathToFileURL(entry).href);
const quantizer = getQuantizer(name);
const options = quantizer.resolveOptions({});
process.stdout.write(JSON.stringify({
  quantizationConfig: quantizer.quantizationConfig(options, { modelDtype, skippedModules: null }),
  storage: JSON.parse(linears).map((l) => quantizer.storageBytes(l.outFeatures, l.inFeatures, options)),
}));
`;

describe('the peft command line with the generated packages as plug-ins (no edit under apps/)', () => {
  let work = '';
  let model = '';
  let data = '';
  const method = GENERATED[0];
  const quantizer = GENERATED[1];
  const methodPlugin = `./${method.dir}`;
  const quantizerPlugin = `./${quantizer.dir}`;
  // The method's own option (sample_method_alpha) next to a shared one, so both reach the config.
  const methodFlags = ['--method', method.name, '--r', '4', '--sample-method-alpha', '16'];
  const linears = tinyLlamaLinears();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'peft-generators-cli-'));
    model = join(work, 'tiny-llama');
    data = join(work, 'train.jsonl');
    await writeTinyLlama(copy, model);
    await writeTextRows(data, 8);
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe(`the method ${method.name}`, () => {
    let plan = {} as PlanJson;
    let declared: { trainable: number; saved: number; frozenBuffers: number } = {
      trainable: 0,
      saved: 0,
      frozenBuffers: 0,
    };

    beforeAll(async () => {
      plan = await peftJson<PlanJson>(copy, methodPlugin, ['plan', model, ...methodFlags]);
      const targetNames = [plan.adapter.target_modules].flat();
      const targets = linears.filter((l) => targetNames.some((name) => l.path.endsWith(`.${name}`)));
      declared = JSON.parse(
        await runCliScript(copy, METHOD_COUNTS, [
          join(copy, method.dir, 'dist', 'index.js'),
          method.name,
          JSON.stringify({ r: 4, sampleMethodAlpha: 16 }),
          JSON.stringify(targets),
        ]),
      );
    });

    it('is a --method choice with its own option in finetune --help, only with the plug-in', async () => {
      const help = (await mustPeft(copy, methodPlugin, ['finetune', '--help'])).stdout;
      expect(help).toMatch(new RegExp(`--method <name>[^]*choices:[^)]*"${method.name}"`));
      expect(help).toContain('--sample-method-alpha <value>');
      const without = (await mustPeft(copy, null, ['finetune', '--help'])).stdout;
      expect(without).not.toContain('--sample-method-alpha');
      expect(without).not.toContain(`"${method.name}"`);
    });

    it("plan reports its peft_type and the trainable parameters the package's parameterCounts gives", () => {
      expect(plan.adapter.peft_type).toBe(method.peftType);
      expect(plan.adapter.r).toBe(4);
      expect(plan.adapter.targeted_layers).toBe(
        TINY_LLAMA.num_hidden_layers * [plan.adapter.target_modules].flat().length,
      );
      expect(declared.trainable).toBeGreaterThan(0);
      expect(plan.trainable_params).toBe(declared.trainable);
      expect(plan.adapter.trainable_params).toBe(declared.trainable);
      expect(plan.adapter.adapter_bytes).toBe(4 * declared.saved);
      expect(plan.training_memory.method_buffers).toBe(4 * declared.frozenBuffers);
    });

    it('init-adapter writes a PEFT folder of its peft_type, options and parameters on the real model', async () => {
      const out = join(work, 'init-adapter');
      const { output } = await mustPeft(copy, methodPlugin, [
        'init-adapter',
        model,
        ...methodFlags,
        '-o',
        out,
        '--backend',
        'cpu',
      ]);
      // The count of the model the adapter was injected into, as PEFT's print_trainable_parameters says it.
      const injected = /trainable params: ([\d,]+)/.exec(output)?.[1];
      expect(injected?.replaceAll(',', ''), output).toBe(String(plan.trainable_params));
      const config = await readJson(join(out, 'adapter_config.json'));
      expect(config).toMatchObject({
        peft_type: method.peftType,
        r: 4,
        sample_method_alpha: 16,
        target_modules: plan.adapter.target_modules,
      });
      expect(await safetensorsElements(join(out, 'adapter_model.safetensors'))).toBe(declared.saved);
    });

    it('finetune trains it and writes its adapter', async () => {
      const out = join(work, 'finetune-method');
      await mustPeft(copy, methodPlugin, [
        'finetune',
        model,
        ...methodFlags,
        '--data',
        data,
        '-o',
        out,
        '--steps',
        '2',
        '--batch-size',
        '2',
        '--backend',
        'cpu',
      ]);
      expect(await readJson(join(out, 'adapter_config.json'))).toMatchObject({
        peft_type: method.peftType,
        sample_method_alpha: 16,
      });
      expect(await safetensorsElements(join(out, 'adapter_model.safetensors'))).toBe(declared.saved);
    });
  });

  describe(`the quantizer ${quantizer.name}`, () => {
    const quantizable = linears.filter((l) => l.path !== 'lm_head');
    const head = linears.find((l) => l.path === 'lm_head')!;
    // Everything the quantizer does not hold: embedding, norms and the float output head.
    const unquantized = tinyLlamaOtherParameters() + head.outFeatures * head.inFeatures;
    let facts: { quantizationConfig: Record<string, unknown>; storage: { disk: number; memory: number }[] } =
      {
        quantizationConfig: {},
        storage: [],
      };

    beforeAll(async () => {
      facts = JSON.parse(
        await runCliScript(copy, QUANTIZER_FACTS, [
          join(copy, quantizer.dir, 'dist', 'index.js'),
          quantizer.name,
          TINY_LLAMA.torch_dtype,
          JSON.stringify(quantizable),
        ]),
      );
    });

    it('plan --quantize reports its base bytes: int8 codes and a float32 scale per row', async () => {
      const plan = await peftJson<PlanJson>(copy, quantizerPlugin, [
        'plan',
        model,
        '--quantize',
        quantizer.name,
      ]);
      // The format's definition, independent of the package: one byte per weight, four per row.
      const int8Bytes = (l: LinearShape) => l.outFeatures * l.inFeatures + 4 * l.outFeatures;
      const held = quantizable.reduce((n, l) => n + int8Bytes(l), 0);
      expect(facts.storage.reduce((n, s) => n + s.disk, 0)).toBe(held);
      expect(plan.base_bytes.quantized[quantizer.name]).toBe(held + 2 * unquantized);
      expect(plan.training_memory.quantize).toBe(quantizer.name);
      expect(plan.training_memory.base).toBe(held + 4 * unquantized);
    });

    it('finetune --quantize trains on a base the plug-in quantized', async () => {
      const out = join(work, 'finetune-quantized');
      const { output } = await mustPeft(copy, quantizerPlugin, [
        'finetune',
        model,
        '--quantize',
        quantizer.name,
        '--data',
        data,
        '-o',
        out,
        '--steps',
        '2',
        '--batch-size',
        '2',
        '--backend',
        'cpu',
      ]);
      // Every linear layer but the head holds the plug-in's scheme (its name, for this format).
      expect(output).toContain(`${quantizable.length} ${quantizer.name}`);
      expect(await safetensorsElements(join(out, 'adapter_model.safetensors'))).toBeGreaterThan(0);
      expect(existsSync(join(out, 'adapter_config.json'))).toBe(true);
    });

    it('peft quantize writes its format and quantization_config, which eval and generate load', async () => {
      const out = join(work, 'quantized');
      await mustPeft(copy, quantizerPlugin, ['quantize', model, '-o', out, '--quantize', quantizer.name]);
      const config = await readJson(join(out, 'config.json'));
      expect(config.quantization_config).toEqual(facts.quantizationConfig);
      expect(config.hidden_size).toBe(TINY_LLAMA.hidden_size);
      const tensors = await safetensorsHeader(join(out, 'model.safetensors'));
      for (const l of quantizable) {
        expect(tensors.get(`${l.path}.weight`), l.path).toEqual({
          dtype: 'I8',
          shape: [l.outFeatures, l.inFeatures],
        });
      }
      expect(tensors.get('lm_head.weight')?.dtype).toBe('F32');

      const evalArgs = ['--data', data, '--backend', 'cpu'];
      // The folder needs the plug-in's linear format: without it, a clear refusal.
      const refused = await peft(copy, null, ['eval', out, ...evalArgs, '--json']);
      expect(refused.code, refused.output).not.toBe(0);
      expect(refused.output).toMatch(/no registered linear format/);
      // With it, the same model as quantizing the dense folder while loading.
      const loaded = await peftJson<EvalJson>(copy, quantizerPlugin, ['eval', out, ...evalArgs]);
      const onLoad = await peftJson<EvalJson>(copy, quantizerPlugin, [
        'eval',
        model,
        '--quantize',
        quantizer.name,
        ...evalArgs,
      ]);
      expect(loaded.tokens).toBe(onLoad.tokens);
      expect(Number.isFinite(loaded.loss)).toBe(true);
      expect(loaded.loss).toBeCloseTo(onLoad.loss, 5);

      const { stdout: generated } = await mustPeft(copy, quantizerPlugin, [
        'generate',
        out,
        '--prompt',
        'the quick',
        '--max-new-tokens',
        '4',
        '--backend',
        'cpu',
      ]);
      expect(generated).toContain('the quick');
    });
  });
});

it('needed no change under apps/ or tools/ (the generated packages live in packages/, docs/, .changeset/)', async () => {
  expect(await changedFiles(copy, ['apps', 'tools'])).toEqual([]);
  // The same question sees the generator's own output, so the empty answer above means something.
  const generated = await changedFiles(
    copy,
    GENERATED.map(({ dir }) => dir),
  );
  for (const { dir } of GENERATED) expect(generated).toContain(`?? ${dir}/src/index.ts`);
});

it('leaves the real workspace without the generated packages', () => {
  for (const { dir } of GENERATED) expect(existsSync(join(REPO_ROOT, dir)), dir).toBe(false);
});
