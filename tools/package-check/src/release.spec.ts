// Releases: changesets turn pending .changeset/*.md files into versions and changelogs, then each
// package is packed as `pnpm publish` would. Run in a temporary copy of the working tree, never in
// the real one; the tarballs are checked for real versions, bumps and changelogs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parseChangeset from '@changesets/parse';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PackedPackage, packPackages } from './pack.js';
import { mustRun } from './run.js';
import { type PackageJson, publishablePackages, REPO_ROOT, readJson } from './workspace.js';
import { copyWorkingTree, installCopy } from './workspace-copy.js';

type Bump = 'major' | 'minor' | 'patch';
const ORDER: Bump[] = ['patch', 'minor', 'major'];

/** A changeset added in the copy only, so the release path is exercised even with nothing pending. */
const CHECK_CHANGESET = { name: 'release-check.md', pkg: '@peft/training', bump: 'patch' as Bump };

interface PendingChangeset {
  file: string;
  summary: string;
  releases: { name: string; type: string }[];
}

function pendingChangesets(dir: string): PendingChangeset[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .map((file) => ({ file, ...parseChangeset(readFileSync(join(dir, file), 'utf8')) }));
}

const before = publishablePackages();
const oldVersions = new Map(before.map((p) => [p.name, p.manifest.version]));
let copy = '';
let packed = new Map<string, PackedPackage>();
const extracted = new Map<string, { manifest: PackageJson; changelog: string | null }>();
let pending: PendingChangeset[] = [];

beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), 'peft-release-check-'));
  await copyWorkingTree(
    copy,
    before.map((p) => `${p.relativeDir}/dist`),
  );
  await writeFile(
    join(copy, '.changeset', CHECK_CHANGESET.name),
    `---\n"${CHECK_CHANGESET.pkg}": ${CHECK_CHANGESET.bump}\n---\n\nRelease check: this line must reach the changelog.\n`,
  );
  pending = pendingChangesets(join(copy, '.changeset'));
  // pnpm pack resolves `workspace:` ranges from what is installed, so every published package needs its install.
  await installCopy(
    copy,
    before.map((p) => `./${p.relativeDir}`),
  );
  await mustRun(join(copy, 'node_modules', '.bin', 'changeset'), ['version'], { cwd: copy });
  packed = await packPackages(publishablePackages(copy), join(copy, '.tarballs'));
  for (const pkg of packed.values()) {
    const out = join(copy, '.unpacked', pkg.name);
    await mkdir(out, { recursive: true });
    await mustRun('tar', ['-xzf', pkg.tarball, '-C', out], { cwd: copy });
    const changelog = pkg.files.includes('CHANGELOG.md')
      ? await readFile(join(out, 'package', 'CHANGELOG.md'), 'utf8')
      : null;
    extracted.set(pkg.name, {
      manifest: readJson<PackageJson>(join(out, 'package', 'package.json')),
      changelog,
    });
  }
});

afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

/** The highest bump the pending changesets ask for each package. */
function requestedBumps(): Map<string, Bump> {
  const bumps = new Map<string, Bump>();
  for (const { releases } of pending) {
    for (const { name, type } of releases) {
      const current = bumps.get(name);
      if (!current || ORDER.indexOf(type as Bump) > ORDER.indexOf(current)) bumps.set(name, type as Bump);
    }
  }
  return bumps;
}

describe('pending changesets in the repository', () => {
  it('each parse, name at least one publishable package with a valid bump, and say something', () => {
    const names = new Set(before.map((p) => p.name));
    for (const changeset of pendingChangesets(join(REPO_ROOT, '.changeset'))) {
      expect(
        changeset.releases.length,
        `${changeset.file} names no package (front matter mangled?)`,
      ).toBeGreaterThan(0);
      for (const release of changeset.releases) {
        expect(names.has(release.name), `${changeset.file}: ${release.name}`).toBe(true);
        expect(ORDER, `${changeset.file}: ${release.name}`).toContain(release.type);
      }
      expect(changeset.summary.trim().length, changeset.file).toBeGreaterThan(0);
    }
  });
});

describe('changeset version, then pack, in a copy of the working tree', () => {
  it('bumps each package named in a changeset by its highest bump; others move at most a patch', () => {
    const bumps = requestedBumps();
    expect(bumps.get(CHECK_CHANGESET.pkg)).toBeDefined();
    for (const [name, { manifest }] of extracted) {
      const old = oldVersions.get(name)!;
      const bump = bumps.get(name);
      if (bump) expect(manifest.version, name).toBe(semver.inc(old, bump));
      else expect([old, semver.inc(old, 'patch')], name).toContain(manifest.version);
    }
  });

  it('consumes every changeset', () => {
    expect(pendingChangesets(join(copy, '.changeset'))).toEqual([]);
  });

  it('writes real versions for internal dependencies (no workspace: ranges) that the released versions satisfy', () => {
    for (const [name, { manifest }] of extracted) {
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
        for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
          expect(range, `${name} ${field}.${dep}`).not.toMatch(/^workspace:/);
          const released = extracted.get(dep)?.manifest.version;
          if (released) expect(semver.satisfies(released, range), `${name} -> ${dep}@${range}`).toBe(true);
        }
      }
    }
  });

  it('ships a CHANGELOG.md in every bumped package with the new version and each changeset summary', () => {
    for (const [name, { manifest, changelog }] of extracted) {
      if (manifest.version === oldVersions.get(name)) continue;
      expect(changelog, `${name} has no CHANGELOG.md in its tarball`).not.toBeNull();
      expect(changelog!).toContain(`## ${manifest.version}`);
      for (const changeset of pending.filter((c) => c.releases.some((r) => r.name === name))) {
        expect(changelog!, `${name}: ${changeset.file}`).toContain(changeset.summary.trim().split('\n')[0]!);
      }
    }
  });

  it('leaves private workspace packages (apps, tools) unversioned and without changelogs', () => {
    for (const dir of ['apps', 'tools'].flatMap((top) =>
      readdirSync(join(REPO_ROOT, top)).map((name) => join(top, name)),
    )) {
      const manifestPath = join(REPO_ROOT, dir, 'package.json');
      if (!existsSync(manifestPath) || readJson<PackageJson>(manifestPath).private !== true) continue;
      const before = readJson<PackageJson>(manifestPath).version;
      expect(readJson<PackageJson>(join(copy, dir, 'package.json')).version, dir).toBe(before);
      expect(existsSync(join(copy, dir, 'CHANGELOG.md')), `${dir}/CHANGELOG.md`).toBe(false);
    }
  });

  it('leaves the real working tree alone', () => {
    for (const pkg of publishablePackages()) expect(pkg.manifest.version).toBe(oldVersions.get(pkg.name));
    expect(readdirSync(join(REPO_ROOT, '.changeset'))).not.toContain(CHECK_CHANGESET.name);
  });
});
