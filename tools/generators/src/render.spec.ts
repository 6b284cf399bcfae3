import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generate, TEMPLATES_DIR } from './generate.js';
import { GeneratorError, methodNames, quantizerNames } from './names.js';
import { fill, placeholderValues, renderTemplates } from './render.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'peft-generators-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('fill', () => {
  it('replaces known placeholders and refuses unknown ones, naming the file', () => {
    expect(fill('a {{x}} b {{x}}', { x: 'y' }, 'f')).toBe('a y b y');
    expect(() => fill('{{nope}}', { x: 'y' }, 'src/f.ts.tmpl')).toThrow(
      /src\/f\.ts\.tmpl: unknown placeholder \{\{nope\}\}/,
    );
  });
});

describe.each([
  ['method', methodNames('ln_tuning')],
  ['quantizer', quantizerNames('int8-rows')],
] as const)('the %s templates', (kind, names) => {
  it('use only known placeholders, in file names too, and render to files without any left', async () => {
    const out = await tempDir();
    const files = await renderTemplates(join(TEMPLATES_DIR, kind), out, placeholderValues(names));
    expect(files.length).toBeGreaterThan(8);
    for (const file of files) {
      expect(file).not.toMatch(/\{\{|\.tmpl$/);
      expect(await readFile(file, 'utf8'), file).not.toMatch(/\{\{\w+\}\}/);
    }
    expect(files.some((f) => f.endsWith(`packages/${names.folder}/src/index.ts`))).toBe(true);
    expect(files.some((f) => f.endsWith(`.changeset/${names.folder}-initial.md`))).toBe(true);
  });
});

describe('generate', () => {
  it('refuses a folder that is not the workspace root, and an existing package, writing nothing', async () => {
    const root = await tempDir();
    await expect(generate('method', 'ia3', root)).rejects.toThrow(/not the peft.js workspace root/);
    await writeFile(join(root, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n');
    await mkdir(join(root, 'packages', 'lora'), { recursive: true });
    await expect(generate('method', 'lora', root)).rejects.toThrow(GeneratorError);
    await expect(generate('method', 'lora', root)).rejects.toThrow(/packages\/lora already exists/);
  });

  it('refuses to overwrite a file it would write (e.g. an existing docs page) and writes nothing then', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n');
    await mkdir(join(root, 'packages'));
    await mkdir(join(root, 'docs', 'methods'), { recursive: true });
    await writeFile(join(root, 'docs', 'methods', 'ia3.md'), 'mine');
    await expect(generate('method', 'ia3', root)).rejects.toThrow(
      /docs\/methods\/ia3\.md already exists; nothing was written/,
    );
    expect(await readdir(join(root, 'packages'))).toEqual([]);
    expect(await readFile(join(root, 'docs', 'methods', 'ia3.md'), 'utf8')).toBe('mine');
  });
});
