import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deadPid, tempRoot } from '../test-support/fs.js';
import { currentHostTag, ownedEntryName, parseOwnedEntryName } from './owned-names.js';
import { removeStaleWrites } from './stale-writes.js';

let root: Awaited<ReturnType<typeof tempRoot>>;
beforeEach(async () => {
  root = await tempRoot('peft-stale-');
});
afterEach(async () => {
  await root.cleanup();
});

/** `ownedEntryName` as process `pid` (on host `host`) would have made it. */
function nameOf(
  target: string,
  kind: 'tmp' | 'staging' | 'replaced',
  pid: number,
  host = currentHostTag(),
): string {
  return ownedEntryName(target, kind)
    .replace(`-${process.pid}-`, `-${pid}-`)
    .replace(`-${currentHostTag()}-`, `-${host}-`);
}

describe('owned entry names', () => {
  it('round-trip and identify their target, owner and host', () => {
    const name = ownedEntryName('model.safetensors', 'tmp');
    expect(name).toMatch(/^\.model\.safetensors\.peft-tmp-\d+-[0-9a-f]{8}-[0-9a-f]{12}\.tmp$/);
    expect(parseOwnedEntryName(name)).toEqual({
      kind: 'tmp',
      target: 'model.safetensors',
      targetCut: false,
      pid: process.pid,
      host: currentHostTag(),
    });
    expect(parseOwnedEntryName(ownedEntryName('out', 'staging'))?.kind).toBe('staging');
    const long = 'x'.repeat(300);
    expect(ownedEntryName(long, 'replaced').length).toBeLessThan(255);
    expect(parseOwnedEntryName(ownedEntryName(long, 'replaced'))?.targetCut).toBe(true);
  });

  it('reject names that are not exactly ours', () => {
    for (const name of [
      '.model.safetensors.0a1b2c3d4e5f.tmp', // the older, pid-less temp naming
      '.peft-staging-Ab12Cd', // mkdtemp staging without a pid
      'model.safetensors',
      '.x.peft-staging-123-0123abcd-0123456789ab.tmp', // staging with a temp suffix
      '.x.peft-tmp-123-0123abcd-0123456789ab', // temp without it
      '.x.peft-staging-0-0123abcd-0123456789ab', // pid 0 would signal our own process group
    ]) {
      expect(parseOwnedEntryName(name), name).toBeUndefined();
    }
  });
});

describe('removeStaleWrites', () => {
  it('removes temp files and staging folders of dead processes, and nothing else', async () => {
    const dead = deadPid();
    const stale = [nameOf('model.safetensors', 'tmp', dead), nameOf('out', 'staging', dead)];
    const kept = [
      nameOf('model.safetensors', 'tmp', process.pid), // a write in progress in this process
      nameOf('out', 'staging', dead, currentHostTag() === '00000000' ? '11111111' : '00000000'), // another host
      '.model.safetensors.0a1b2c3d4e5f.tmp',
      '.peft-staging-Ab12Cd',
      'notes.txt',
    ];
    await writeFile(join(root.dir, stale[0]!), new Uint8Array(1024));
    await mkdir(join(root.dir, stale[1]!));
    await writeFile(join(root.dir, stale[1]!, 'config.json'), '{}');
    for (const name of kept) await writeFile(join(root.dir, name), 'keep');

    const report = await removeStaleWrites(root.dir);
    expect(report.removed.sort()).toEqual(stale.map((n) => join(root.dir, n)).sort());
    expect((await readdir(root.dir)).sort()).toEqual([...kept].sort());
  });

  it('only touches entries of the given target', async () => {
    const dead = deadPid();
    const mine = nameOf('a.json', 'tmp', dead);
    const other = nameOf('b.json', 'tmp', dead);
    await writeFile(join(root.dir, mine), '');
    await writeFile(join(root.dir, other), '');
    await removeStaleWrites(root.dir, { target: 'a.json' });
    expect(await readdir(root.dir)).toEqual([other]);
  });

  it('puts back a folder moved aside by an interrupted swap, and removes it once the new one is in place', async () => {
    const dead = deadPid();
    const aside = join(root.dir, nameOf('model', 'replaced', dead));
    await mkdir(aside);
    await writeFile(join(aside, 'config.json'), 'old');
    expect(await removeStaleWrites(root.dir)).toEqual({ removed: [], restored: [join(root.dir, 'model')] });
    expect(await readFile(join(root.dir, 'model', 'config.json'), 'utf8')).toBe('old');

    const again = join(root.dir, nameOf('model', 'replaced', dead));
    await mkdir(again);
    expect(await removeStaleWrites(root.dir)).toEqual({ removed: [again], restored: [] });
    expect(await readdir(root.dir)).toEqual(['model']);
  });

  it('a missing folder is nothing to clean', async () => {
    expect(await removeStaleWrites(join(root.dir, 'missing'))).toEqual({ removed: [], restored: [] });
  });
});
