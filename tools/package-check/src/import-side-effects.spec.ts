// Importing a package must be cheap and inert: no TensorFlow.js backend registered or started, no
// tensors, no kernels; only the packages whose `sideEffects` lists their entry may register anything
// (a method or a linear format). Each import runs in a fresh Node process inside the installed app.
import { afterAll, describe, expect, it } from 'vitest';
import { installedManifest, installedProject, probe } from './installed.js';
import { runCommand } from './run.js';
import { publishablePackages } from './workspace.js';

interface ImportReport {
  importMs: number;
  backendFactories: string[];
  backendInitialised: boolean;
  numTensors: number;
  kernels: Record<string, number>;
  registries: Record<string, string[]>;
}

/** What each registering package adds to peft.js' global registries when imported. */
const REGISTERS: Record<string, Record<string, string[]>> = {
  '@peft/quant-bnb4': { 'linear-formats': ['bnb4'], quantizers: ['nf4', 'fp4'] },
  '@peft/vera': { 'peft-methods': ['VERA'] },
  '@peft/lora': { 'peft-methods': ['LORA'] },
};

// The published entry points: a workspace-only subpath (left out by `publishConfig.exports`) is not one.
const entries = publishablePackages().flatMap((pkg) =>
  Object.keys(pkg.manifest.publishConfig?.exports ?? pkg.manifest.exports ?? {})
    .filter((subpath) => subpath !== './package.json')
    .map((subpath) => ({
      pkg: pkg.name,
      specifier: subpath === '.' ? pkg.name : `${pkg.name}${subpath.slice(1)}`,
    })),
);

const measured: { specifier: string; ms: number }[] = [];

async function importInFreshProcess(specifier: string): Promise<ImportReport> {
  const result = await runCommand(process.execPath, [probe('import-probe.mjs'), specifier], {
    cwd: installedProject(),
  });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ImportReport;
}

afterAll(() => {
  // Measured, never asserted: printed for the record (cold import in a fresh process, tfjs-core included).
  console.log(
    `import times in a fresh Node process:\n${measured.map((m) => `  ${m.specifier.padEnd(32)} ${m.ms.toFixed(0).padStart(5)} ms`).join('\n')}`,
  );
});

describe('importing', () => {
  it('@tensorflow/tfjs-core alone (the baseline every import includes)', async () => {
    const report = await importInFreshProcess('@tensorflow/tfjs-core');
    measured.push({ specifier: '@tensorflow/tfjs-core', ms: report.importMs });
    expect(report.backendFactories).toEqual([]);
  });

  it.each(entries)(
    '$specifier starts no backend, allocates nothing and registers only what sideEffects declares',
    async ({ pkg, specifier }) => {
      const report = await importInFreshProcess(specifier);
      measured.push({ specifier, ms: report.importMs });
      expect(report.backendFactories).toEqual([]);
      expect(report.backendInitialised).toBe(false);
      expect(report.numTensors).toBe(0);
      expect(report.kernels).toEqual({ cpu: 0, wasm: 0, webgpu: 0 });

      const registered = Object.fromEntries(
        Object.entries(report.registries).filter(([, keys]) => keys.length > 0),
      );
      const sideEffects = installedManifest(pkg).sideEffects;
      // A registering package lists exactly its entry in sideEffects (so bundlers keep the registration)
      // and registers when that entry is imported; every other package and entry point is inert.
      const registers = sideEffects !== false;
      if (registers) expect(sideEffects).toEqual(['./dist/index.js']);
      if (REGISTERS[pkg])
        expect(registers, `${pkg} registers on import: sideEffects must list its entry`).toBe(true);
      if (specifier !== pkg || !registers) expect(registered).toEqual({});
      else if (REGISTERS[pkg]) expect(registered).toEqual(REGISTERS[pkg]);
      else
        expect(Object.keys(registered), `${pkg} declares a side effect but registers nothing`).not.toEqual(
          [],
        );
    },
  );
});
