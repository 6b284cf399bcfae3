// The release as users meet it: every packed tarball is `npm publish`ed to a real registry on the loopback
// interface (verdaccio; `@peft/*` only from its storage, everything else proxied to the configured
// registry), then installed BY NAME in fresh projects outside the workspace, with a fresh HOME and npm
// cache. The libraries' README snippets run against that install, and the CLI README's shell lines run
// as written: `npm install @peft/cli`, `npx peft --version`, the demo and an inspect of what it wrote.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importsOf, isBare, isNodeBuiltin, packageNameOf } from './import-graph.js';
import { packedPackages } from './installed.js';
import { APP_DEPENDENCIES } from './installed-project.js';
import { isolatedNpmEnv } from './isolated-npm.js';
import { type LocalRegistry, startLocalRegistry } from './local-registry.js';
import { firstCodeBlock, firstShellLines, README_PRINTS, stripTypes } from './readme-snippet.js';
import { mustRun, type RunResult, runCommand } from './run.js';
import { isCommand, type PackageJson, publishablePackages, readJson, unscoped } from './workspace.js';

const published = publishablePackages();
const libraries = published.filter((p) => !isCommand(p.manifest)).map((p) => p.name);
const commands = published.filter((p) => isCommand(p.manifest)).map((p) => p.name);

/** npm's own limits: an install from a cold cache on a slow shared runner, and the two-step demo. */
const INSTALL_MS = 600_000;
const COMMAND_MS = 300_000;

let root = '';
let registry: LocalRegistry | null = null;
let env: NodeJS.ProcessEnv = {};
/** The project that installed every library by name (and what the snippets import). */
let app = '';

function npm(args: string[], cwd: string, timeoutMs = INSTALL_MS): Promise<RunResult> {
  return mustRun('npm', args, { cwd, env, timeoutMs });
}

async function newProject(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'my-app', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
  );
}

/** "sha512-…" of a file, as npm records a tarball's integrity. */
async function integrityOf(file: string): Promise<string> {
  return `sha512-${createHash('sha512')
    .update(await readFile(file))
    .digest('base64')}`;
}

function snippetDir(name: string): string {
  return join(app, 'readme', unscoped(name));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'peft-registry-check-'));
  const upstream = (await mustRun('npm', ['config', 'get', 'registry'], { cwd: root })).stdout.trim();
  registry = await startLocalRegistry(join(root, 'registry'), upstream);
  env = await isolatedNpmEnv(join(root, 'npm'), registry.url);
  for (const pkg of packedPackages()) await npm(['publish', pkg.tarball, '--access', 'public'], root);

  // The libraries, by name, plus whatever their README snippets import (TensorFlow.js and a backend).
  app = join(root, 'app');
  await newProject(app);
  const wanted = new Set(libraries);
  for (const name of libraries) {
    const readme = await packedReadme(name);
    const snippet = firstCodeBlock(readme);
    if (snippet === null) throw new Error(`${name}: README.md has no ts/js code block`);
    await mkdir(snippetDir(name), { recursive: true });
    const file = join(snippetDir(name), 'snippet.mjs');
    await writeFile(file, stripTypes(snippet, `${name}/README.md`));
    for (const { specifier } of await importsOf(file)) {
      if (isBare(specifier) && !isNodeBuiltin(specifier)) wanted.add(packageNameOf(specifier));
    }
  }
  // Third-party packages come through the registry's uplink, from this process: without the machine's CA
  // bundle or proxy settings (NODE_EXTRA_CA_CERTS, HTTPS_PROXY, ...) it cannot reach it, and npm would only say
  // ERESOLVE "@undefined". Say what is wrong instead.
  const probe = await runCommand('npm', ['view', '@tensorflow/tfjs-core@4.22.0', 'version'], {
    cwd: root,
    env,
    timeoutMs: COMMAND_MS,
  });
  if (probe.code !== 0 || probe.stdout.trim() !== '4.22.0') {
    throw new Error(
      `the local registry cannot fetch @tensorflow/tfjs-core from its uplink ${upstream}; check that the test ` +
        `process has this machine's CA bundle and proxy settings (NODE_EXTRA_CA_CERTS, HTTPS_PROXY)\n${probe.stderr}`,
    );
  }
  const specs = [...wanted].map((name) =>
    APP_DEPENDENCIES[name] ? `${name}@${APP_DEPENDENCIES[name]}` : name,
  );
  await npm(['install', ...specs], app);
}, 2 * INSTALL_MS);

afterAll(async () => {
  await registry?.stop();
  if (root && process.env['PEFT_KEEP_PACKAGE_CHECK'] !== '1')
    await rm(root, { recursive: true, force: true });
});

/** A package's README as its tarball holds it. */
async function packedReadme(name: string): Promise<string> {
  const pkg = packedPackages().find((p) => p.name === name)!;
  return (await mustRun('tar', ['-xzOf', pkg.tarball, 'package/README.md'], { cwd: root })).stdout;
}

describe('the local registry', () => {
  it.each(packedPackages().map((p) => p.name))(
    'serves %s at its packed version, with the packed tarball',
    async (name) => {
      const pkg = packedPackages().find((p) => p.name === name)!;
      const { stdout } = await npm(['view', `${name}@${pkg.version}`, 'dist.integrity', '--json'], root);
      expect(JSON.parse(stdout)).toBe(await integrityOf(pkg.tarball));
    },
  );

  it('answers 404 for an @peft/* name not published here (the scope has no uplink)', async () => {
    const result = await runCommand('npm', ['view', '@peft/not-published-here', 'version'], {
      cwd: root,
      env,
      timeoutMs: COMMAND_MS,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('E404');
  });
});

describe('npm install <library> by name, in a fresh project', () => {
  it('installs every library from the local registry, byte for byte the packed tarball', async () => {
    const lock = readJson<{
      packages: Record<string, { version: string; resolved: string; integrity: string }>;
    }>(join(app, 'package-lock.json'));
    for (const pkg of packedPackages().filter((p) => libraries.includes(p.name))) {
      const entry = lock.packages[`node_modules/${pkg.name}`];
      expect(entry, pkg.name).toBeDefined();
      expect(entry!.version, pkg.name).toBe(pkg.version);
      expect(entry!.resolved.startsWith(registry!.url), entry!.resolved).toBe(true);
      expect(entry!.integrity, pkg.name).toBe(await integrityOf(pkg.tarball));
    }
  });

  it.each(libraries)('%s: the README opening snippet runs and prints what its README says', async (name) => {
    const expected = README_PRINTS[name];
    expect(expected, `add the expected output of ${name}'s snippet to README_PRINTS`).toBeDefined();
    const result = await runCommand(process.execPath, ['snippet.mjs'], {
      cwd: snippetDir(name),
      env,
      timeoutMs: COMMAND_MS,
    });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const text of expected!) expect(result.stdout).toContain(text);
  });
});

describe.each(commands)('%s: its README shell lines, run as written in a fresh project', (name) => {
  const version = () => packedPackages().find((p) => p.name === name)!.version;
  const outputs: { line: string; result: RunResult }[] = [];
  let project = '';

  beforeAll(async () => {
    project = join(root, `${unscoped(name)}-project`);
    await newProject(project);
    const lines = firstShellLines(await packedReadme(name));
    if (!lines) throw new Error(`${name}: README.md has no sh code block`);
    for (const line of lines) {
      const result = await runCommand('sh', ['-c', line], { cwd: project, env, timeoutMs: INSTALL_MS });
      outputs.push({ line, result });
      if (result.code !== 0) break;
    }
  }, 2 * INSTALL_MS);

  it('installs it by name and every line exits 0', () => {
    expect(outputs.map((o) => o.line)[0]).toBe(`npm install ${name}`);
    for (const { line, result } of outputs)
      expect(result.code, `${line}\n${result.stdout}${result.stderr}`).toBe(0);
    const installed = readJson<PackageJson>(
      join(project, 'node_modules', ...name.split('/'), 'package.json'),
    );
    expect(installed.version).toBe(version());
  });

  it('`npx peft --version` prints the published version', () => {
    const run = outputs.find((o) => o.line === 'npx peft --version');
    expect(run, 'the README runs `npx peft --version`').toBeDefined();
    expect(run!.result.stdout.trim()).toBe(version());
  });

  it('the demo writes a VeRA adapter that `peft inspect` lists', () => {
    const inspect = outputs.find((o) => o.line.startsWith('npx peft inspect '));
    expect(inspect, 'the README inspects what the demo wrote').toBeDefined();
    expect(inspect!.result.stdout).toMatch(/\d+ tensors/);
    expect(inspect!.result.stdout).toContain('vera_lambda_b');
  });
});
