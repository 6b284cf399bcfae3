// Apps often end up with two copies of a package (different versions pulled in by different
// dependencies). The registries live on globalThis (core's globalRegistry), so registering a method or a
// linear format through one copy must be visible through the other. Proven in the installed app, where
// npm aliases install a second copy of core, adapter-bridge, vera and quant-bnb4.
import { expect, it } from 'vitest';
import { installedProject, probe } from './installed.js';
import { runCommand } from './run.js';

it('two copies of core, the bridge, a method and a quantizer register once and interoperate', async () => {
  const result = await runCommand(process.execPath, [probe('two-copies.mjs')], { cwd: installedProject() });
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  expect(report.peftTypes).toEqual(['VERA']);
  expect(report.peftTypesFromCopy).toEqual(['VERA']);
  expect(report.linearFormats).toEqual(['bnb4']);
  expect(report.linearFormatsFromCopy).toEqual(['bnb4']);
  expect(report.adapterRoundTripMaxDiff).toBe(0);
  expect(report.loadedScheme).toBe('bnb4-nf4');
  expect(report.loadedShape).toEqual([8, 64]);
  expect(report.dequantizeMaxDiff).toBe(0);
  expect(report.linearBrandAcrossCopies).toBe(true);
  expect(report.unknownTypeError.code).toBe('REGISTRY');
  expect(report.unknownTypeError.message).toMatch(/install @peft\/nope and import it/);
  // The bridge copy throws the hoisted core's class; the core copy's class is another one, which is why
  // callers should branch on `code` rather than instanceof.
  expect(report.unknownTypeError.instanceofCore).toBe(true);
  expect(report.unknownTypeError.instanceofCoreCopy).toBe(false);
});
