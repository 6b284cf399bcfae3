// What each tarball holds and declares: the files, the manifest fields, publint and
// arethetypeswrong verdicts, source maps that resolve, and imports that match declared dependencies.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { describe, expect, it } from 'vitest';
import { importsOf, isBare, isNodeBuiltin, packageNameOf, reachableImports } from './import-graph.js';
import { installedDir, installedManifest, packedPackages, probe } from './installed.js';
import { runCommand } from './run.js';
import { listFiles } from './tarball-files.js';
import { isCommand, publishablePackages, unscoped } from './workspace.js';

const workspace = new Map(publishablePackages().map((p) => [p.name, p]));
const packages = [...workspace.keys()];
const attw = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.bin', 'attw');

/** Export subpaths other than "./package.json", with their import target. */
function entryPoints(name: string): { subpath: string; types: string; file: string }[] {
  const exports = installedManifest(name).exports ?? {};
  return Object.entries(exports)
    .filter(([subpath]) => subpath !== './package.json')
    .map(([subpath, target]) => {
      if (typeof target === 'string') throw new Error(`${name} exports["${subpath}"] has no conditions`);
      return { subpath, types: target['types']!, file: target['import']! };
    });
}

describe('the packed packages', () => {
  it('are every publishable package of the workspace', () => {
    expect(
      packedPackages()
        .map((p) => p.name)
        .sort(),
    ).toEqual([...packages].sort());
  });
});

describe.each(packages)('%s as published', (name) => {
  const source = workspace.get(name)!;

  it('passes publint (strict, suggestions included) on the tarball', async () => {
    const pkg = packedPackages().find((p) => p.name === name)!;
    const tarball = await readFile(pkg.tarball);
    const { messages, pkg: manifest } = await publint({
      pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.byteLength) },
      level: 'suggestion',
      strict: true,
    });
    expect(messages.map((m) => `${m.type}: ${formatMessage(m, manifest, { color: false })}`)).toEqual([]);
  });

  it('passes arethetypeswrong with the ESM-only profile', async () => {
    const pkg = packedPackages().find((p) => p.name === name)!;
    const result = await runCommand(attw, [pkg.tarball, '--profile', 'esm-only', '--no-color'], {
      cwd: dirname(pkg.tarball),
    });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('declares an ESM-only exports map with types first, engines, files, keywords and its repository folder', () => {
    const manifest = installedManifest(name);
    expect(manifest.type).toBe('module');
    expect(manifest.engines?.['node']).toBe('>=20');
    expect(manifest.keywords?.length ?? 0).toBeGreaterThan(0);
    expect(manifest.repository?.directory).toBe(source.relativeDir);
    expect(manifest.exports?.['./package.json']).toBe('./package.json');
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (subpath === './package.json') continue;
      expect(Object.keys(target), subpath).toEqual(['types', 'import']);
    }
    if (isCommand(manifest)) {
      // An application owns its TensorFlow.js: `npm install @peft/cli` alone must give a working command.
      expect(manifest.dependencies?.['@tensorflow/tfjs-core']).toBe('4.22.0');
      expect(manifest.peerDependencies?.['@tensorflow/tfjs-core']).toBeUndefined();
    } else {
      expect(manifest.peerDependencies?.['@tensorflow/tfjs-core']).toBe('^4.22.0');
      expect(manifest.dependencies?.['@tensorflow/tfjs-core']).toBeUndefined();
    }
  });

  it('has no workspace: ranges left; internal dependencies name the versions packed beside it', () => {
    const manifest = installedManifest(name);
    const versions = new Map(packedPackages().map((p) => [p.name, p.version]));
    for (const field of [
      'dependencies',
      'peerDependencies',
      'optionalDependencies',
      'devDependencies',
    ] as const) {
      for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
        expect(range, `${field}.${dep}`).not.toMatch(/^workspace:/);
        if (field === 'dependencies' && versions.has(dep)) expect(range, dep).toBe(`^${versions.get(dep)}`);
      }
    }
  });

  it('ships its entry points, README and licence, and no tests, test support or fixtures', async () => {
    const files = await listFiles(installedDir(name));
    expect(files).toContain('README.md');
    expect(files).toContain('LICENSE');
    for (const { subpath, types, file } of entryPoints(name)) {
      expect(files, subpath).toContain(posix.normalize(file));
      expect(files, subpath).toContain(posix.normalize(types));
    }
    const unwanted = files.filter((f) => /\.spec\.|(^|\/)(test-support|fixtures)\//.test(f));
    expect(unwanted).toEqual([]);
  });

  it('ships each command it declares as a Node script with a shebang', async () => {
    const manifest = installedManifest(name);
    for (const [command, file] of Object.entries(manifest.bin ?? {})) {
      const text = await readFile(join(installedDir(name), file), 'utf8');
      expect(text.startsWith('#!/usr/bin/env node\n'), `${command} -> ${file}`).toBe(true);
    }
  });

  it('ships the sources its source maps and declaration maps point at', async () => {
    const dir = installedDir(name);
    const missing: string[] = [];
    for (const map of (await listFiles(dir)).filter((f) => f.endsWith('.map'))) {
      const { sources } = JSON.parse(await readFile(join(dir, map), 'utf8')) as { sources: string[] };
      for (const s of sources) {
        if (!existsSync(join(dir, posix.dirname(map), s))) missing.push(`${map} -> ${s}`);
      }
    }
    // A map whose source is gone is usually a stale file in dist/ (a deleted source, an old build): rebuild clean.
    expect(missing, 'stale build output in dist/? delete dist and rebuild').toEqual([]);
  });

  it('imports only itself, Node builtins and the packages it declares (dependencies or peers)', async () => {
    const manifest = installedManifest(name);
    const declared = new Set([
      name,
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
    ]);
    const dir = installedDir(name);
    const undeclared: string[] = [];
    const specifiers = new Set<string>();
    for (const file of (await listFiles(dir)).filter((f) => f.endsWith('.js'))) {
      for (const site of await importsOf(join(dir, file))) {
        if (!isBare(site.specifier) || isNodeBuiltin(site.specifier)) continue;
        specifiers.add(site.specifier);
        if (!declared.has(packageNameOf(site.specifier))) undeclared.push(`${file}: ${site.specifier}`);
      }
    }
    expect(undeclared).toEqual([]);
    // Each one resolves from inside the installed package (subpaths must be exported by their package).
    const result = await runCommand(
      process.execPath,
      [probe('resolve-probe.mjs'), JSON.stringify([...specifiers])],
      {
        cwd: dir,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('keeps Node builtins out of every entry point but ./node, so bundlers can use them in a browser', async () => {
    const dir = installedDir(name);
    for (const { subpath, file } of entryPoints(name)) {
      if (subpath.endsWith('/node')) continue;
      const builtins = (await reachableImports(join(dir, file)))
        .filter((site) => isNodeBuiltin(site.specifier))
        .map((site) => `${site.file.slice(dir.length + 1)}: ${site.specifier}`);
      expect(builtins, `${unscoped(name)} ${subpath}`).toEqual([]);
    }
  });
});
