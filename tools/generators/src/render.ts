import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { GeneratorError, type TemplateNames } from './names.js';

const PLACEHOLDER = /\{\{(\w+)\}\}/g;

/** Replaces every `{{key}}` with its value; an unknown key is an error, so a typo never ships. */
export function fill(text: string, values: Readonly<Record<string, string>>, where: string): string {
  return text.replace(PLACEHOLDER, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new GeneratorError(`${where}: unknown placeholder {{${key}}}`);
    return value;
  });
}

export function placeholderValues(names: TemplateNames): Record<string, string> {
  return { ...names };
}

async function templateFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * Writes every `*.tmpl` file of `templateDir` below `outDir` with placeholders filled in, both in
 * contents and in paths, and the `.tmpl` suffix dropped (templates carry it so no tool in this
 * repository compiles, lints or runs them as they are). Refuses to overwrite anything.
 */
export async function renderTemplates(
  templateDir: string,
  outDir: string,
  values: Readonly<Record<string, string>>,
): Promise<string[]> {
  const planned = (await templateFiles(templateDir))
    .filter((file) => file.endsWith('.tmpl'))
    .map((file) => ({ file, target: join(outDir, fill(file.slice(0, -'.tmpl'.length), values, file)) }));
  const clash = planned.find(({ target }) => existsSync(target));
  if (clash) throw new GeneratorError(`${clash.target} already exists; nothing was written`);
  for (const { file, target } of planned) {
    const text = fill(await readFile(join(templateDir, file), 'utf8'), values, file);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text, { flag: 'wx' });
  }
  return planned.map(({ target }) => target);
}
