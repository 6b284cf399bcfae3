import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GeneratorError, methodNames, quantizerNames, type TemplateNames } from './names.js';
import { placeholderValues, renderTemplates } from './render.js';

export type GeneratorKind = 'method' | 'quantizer';

/** tools/generators/templates, next to src/ and dist/. */
export const TEMPLATES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'templates');

export interface Generated {
  readonly names: TemplateNames;
  /** Written files, relative to the repository root. */
  readonly files: string[];
}

/**
 * Scaffolds a method package (config/layer/model, modelled on @peft/lora) or a quantizer package
 * (QuantizedLinear + linear format, per-row absmax int8) in the workspace at `root`, with its docs page,
 * a changeset and tests already joined to the shared test matrix. Refuses to touch existing files.
 */
export async function generate(kind: GeneratorKind, name: string, root: string): Promise<Generated> {
  if (!existsSync(join(root, 'pnpm-workspace.yaml')) || !existsSync(join(root, 'packages'))) {
    throw new GeneratorError(
      `${root} is not the peft.js workspace root (no pnpm-workspace.yaml and packages/)`,
    );
  }
  const names = kind === 'method' ? methodNames(name) : quantizerNames(name);
  if (existsSync(join(root, 'packages', names.folder))) {
    throw new GeneratorError(`packages/${names.folder} already exists; pick another name`);
  }
  const written = await renderTemplates(join(TEMPLATES_DIR, kind), root, placeholderValues(names));
  await formatWithBiome(root, written);
  return { names, files: written.map((file) => relative(root, file)) };
}

/**
 * Names of different lengths change line lengths, so the output is formatted (and its imports sorted)
 * with the workspace's own Biome and rules rather than hoping the templates' layout still fits.
 */
async function formatWithBiome(root: string, files: readonly string[]): Promise<void> {
  const biome = join(root, 'node_modules', '.bin', 'biome');
  if (!existsSync(biome)) {
    throw new GeneratorError(`no ${biome}; run \`pnpm install\` at the workspace root first`);
  }
  const sources = files.filter((file) => /\.(ts|js|mjs)$/.test(file));
  const result = spawnSync(biome, ['check', '--write', ...sources], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new GeneratorError(`biome could not format the generated files:\n${result.stdout}${result.stderr}`);
  }
}
