// The promise of the generators: a newcomer starts from green tests. In a temporary copy of the
// workspace (never the real tree), generate a method and a quantizer with the same command line the
// root scripts use, install, build, type-check and lint them, and run their tests, whose matrix rows
// must all pass.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyWorkingTree, mustRun, REPO_ROOT, run } from './test-support/workspace-copy.js';

/** What the generated packages build on, already built in the real workspace (turbo builds them first). */
const BUILT = [
  'packages/core',
  'packages/backends',
  'packages/quant-bnb4',
  'packages/adapter-bridge',
  'packages/vera',
  'packages/lora',
  'tools/test-matrix',
];

const GENERATED = [
  {
    kind: 'method',
    name: 'sample_method',
    pkg: '@peft/sample_method',
    dir: 'packages/sample_method',
    matrixCells: 5 * 4,
  },
  {
    kind: 'quantizer',
    name: 'int8-sample',
    pkg: '@peft/quant-int8-sample',
    dir: 'packages/quant-int8-sample',
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
  // ... and the `pnpm install` its next steps ask for.
  await install(GENERATED.map(({ pkg }) => `${pkg}...`));
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
    await mustRun('pnpm', ['run', 'build'], pkgDir);
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

it('leaves the real workspace without the generated packages', () => {
  for (const { dir } of GENERATED) expect(existsSync(join(REPO_ROOT, dir)), dir).toBe(false);
});
