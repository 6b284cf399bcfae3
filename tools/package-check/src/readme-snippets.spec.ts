// Every package README opens with a runnable snippet. Here it is taken from the README inside the
// installed tarball, type-checked against the installed type declarations, and run in Node (ESM) in the
// app that installed the tarballs; what it prints is compared with what the README says it prints.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installedDir, installedProject } from './installed.js';
import { firstCodeBlock, README_PRINTS as PRINTS, SNIPPET_TSCONFIG, stripTypes } from './readme-snippet.js';
import { runCommand } from './run.js';
import { isCommand, publishablePackages, unscoped } from './workspace.js';

// A command's README opens with shell lines instead; registry.spec.ts runs those.
const packages = publishablePackages()
  .filter((p) => !isCommand(p.manifest))
  .map((p) => p.name);
const snippetsDir = () => join(installedProject(), 'readme');
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');

beforeAll(async () => {
  for (const name of packages) {
    const readme = await readFile(join(installedDir(name), 'README.md'), 'utf8');
    const snippet = firstCodeBlock(readme);
    if (snippet === null) throw new Error(`${name}: README.md has no ts/js code block`);
    const dir = join(snippetsDir(), unscoped(name));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'snippet.ts'), snippet);
    await writeFile(join(dir, 'snippet.mjs'), stripTypes(snippet, `${name}/README.md`));
  }
  await writeFile(join(snippetsDir(), 'tsconfig.json'), JSON.stringify(SNIPPET_TSCONFIG, null, 2));
});

describe('README opening snippets', () => {
  it('type-check against the installed packages', async () => {
    const result = await runCommand(process.execPath, [tsc, '-p', join(snippetsDir(), 'tsconfig.json')], {
      cwd: snippetsDir(),
    });
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it.each(packages)('%s: runs in Node and prints what its README says', async (name) => {
    expect(PRINTS[name], `add the expected output of ${name}'s snippet here`).toBeDefined();
    const dir = join(snippetsDir(), unscoped(name));
    const result = await runCommand(process.execPath, ['snippet.mjs'], { cwd: dir });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const text of PRINTS[name]!) expect(result.stdout).toContain(text);
  });
});
