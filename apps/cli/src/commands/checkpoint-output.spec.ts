// What quantize and dequantize may and may not do to the disk: never overwrite an input, replace an
// output folder whole or not at all, clean up after killed runs, and report file-system trouble as the
// user's situation (exit code 3, one sentence naming the path).
import { spawnSync } from 'node:child_process';
import { link, mkdir, readdir, readFile, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFloat32 } from '@peft/core';
import { openCheckpoint, ownedEntryName } from '@peft/core/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runPeft, tempDir, writeFileDict } from './test-support/checkpoints.js';
import { shardedModelFolder, singleFileModelFolder, smallModel } from './test-support/model-folders.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** Every file under `dir` with its bytes (hex), so "unchanged" means byte for byte. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) out[name] = (await readFile(path)).toString('hex');
  }
  return out;
}

/** The pid of a process that has exited, as a killed run's would be. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

/** The one-line error of a refused run. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  return lines[0]!;
}

describe('an output that is an input is refused (exit 3)', () => {
  it('a symlink to the input folder: the input stays byte-identical', async () => {
    const m = join(tmp.dir, 'm');
    await singleFileModelFolder(m);
    const before = await contents(m);
    const mlink = join(tmp.dir, 'mlink');
    await symlink(m, mlink);
    for (const command of ['quantize', 'dequantize']) {
      const run = await runPeft(command, m, '-o', mlink);
      expect(run.code).toBe(3);
      const line = errorLine(run.stderr);
      expect(line).toBe(
        `error: output ${mlink} is the input; write to another path (both resolve to ${await realpath(m)}: the input ${m}).`,
      );
      expect(await contents(m)).toEqual(before);
    }
  });

  it('a hard link of the input file, a folder inside the input, and a folder around it', async () => {
    const m = join(tmp.dir, 'm');
    await singleFileModelFolder(m);
    const weights = join(m, 'model.safetensors');
    const hard = join(tmp.dir, 'hard.safetensors');
    await link(weights, hard);
    const before = await contents(m);
    const sameFile = await runPeft('quantize', weights, '-o', hard);
    expect(sameFile.code).toBe(3);
    expect(errorLine(sameFile.stderr)).toContain(`output ${hard} is the input;`);
    expect(errorLine(sameFile.stderr)).toContain(weights);
    const inside = await runPeft('quantize', m, '-o', join(m, 'quantized'));
    expect(inside.code).toBe(3);
    expect(errorLine(inside.stderr)).toContain('lies inside the input');
    const around = await runPeft('quantize', m, '-o', tmp.dir);
    expect(around.code).toBe(3);
    expect(errorLine(around.stderr)).toContain('contains the input');
    expect(await contents(m)).toEqual(before);
    expect((await readdir(tmp.dir)).sort()).toEqual(['hard.safetensors', 'm']);
  });
});

describe('folder outputs are replaced whole', () => {
  it('a sharded run over an earlier single-file output leaves exactly one model', async () => {
    const input = join(tmp.dir, 'sharded');
    await shardedModelFolder(input);
    const out = join(tmp.dir, 'out');
    await singleFileModelFolder(out);
    await writeFile(join(out, 'generation_config.json'), '{"stale": true}');

    const run = await runPeft('quantize', input, '-o', out);
    expect(run.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'tokenizer.json',
    ]);
    expect((await readdir(tmp.dir)).sort()).toEqual(['out', 'sharded']);
    const checkpoint = await openCheckpoint(out);
    expect(checkpoint.keys()).toContain('model.layers.0.mlp.up_proj.weight.absmax');
    await checkpoint.close();

    // And back: dequantizing onto a sharded output folder from a single-file input drops the shards.
    const single = join(tmp.dir, 'single');
    await singleFileModelFolder(single);
    const back = await runPeft('dequantize', single, '-o', out);
    expect(back.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  it('a failed run leaves the existing output folder byte-identical and no staging behind', async () => {
    const out = join(tmp.dir, 'out');
    await singleFileModelFolder(out);
    const before = await contents(out);
    const input = join(tmp.dir, 'bad');
    await shardedModelFolder(input);
    // A NaN in the second shard: the first shard and the config are already staged when it fails.
    const dict = new Map([...smallModel()].slice(2));
    const nan = new Float32Array(8 * 64);
    nan[5] = Number.NaN;
    dict.set('model.layers.1.self_attn.q_proj.weight', fromFloat32(nan, [8, 64]));
    await writeFileDict(join(input, 'model-00002-of-00002.safetensors'), dict);

    const run = await runPeft('quantize', input, '-o', out);
    expect(run.code).toBe(3);
    expect(errorLine(run.stderr)).toContain('model.layers.1.self_attn.q_proj.weight');
    expect(await contents(out)).toEqual(before);
    expect((await readdir(tmp.dir)).sort()).toEqual(['bad', 'out']);
  });

  it('the next run removes what killed runs left: staging folders beside the output and temp files of a file output', async () => {
    const input = join(tmp.dir, 'in');
    await singleFileModelFolder(input);
    const out = join(tmp.dir, 'out');
    await singleFileModelFolder(out);
    const dead = deadPid();
    const staging = join(tmp.dir, ownedEntryName('out', 'staging').replace(`-${process.pid}-`, `-${dead}-`));
    await mkdir(staging);
    await writeFile(join(staging, 'config.json'), '{"half": "written"}');
    expect((await runPeft('quantize', input, '-o', out)).code).toBe(0);
    expect((await readdir(tmp.dir)).sort()).toEqual(['in', 'out']);

    const file = join(tmp.dir, 'q.safetensors');
    const temp = join(
      tmp.dir,
      ownedEntryName('q.safetensors', 'tmp').replace(`-${process.pid}-`, `-${dead}-`),
    );
    await writeFile(temp, new Uint8Array(1 << 20));
    expect((await runPeft('quantize', join(input, 'model.safetensors'), '-o', file)).code).toBe(0);
    expect((await readdir(tmp.dir)).sort()).toEqual(['in', 'out', 'q.safetensors']);
  });

  it('an output folder holding files that are not a model is refused unless --overwrite', async () => {
    const input = join(tmp.dir, 'in');
    await singleFileModelFolder(input);
    const out = join(tmp.dir, 'out');
    await singleFileModelFolder(out);
    await writeFile(join(out, 'notes.txt'), 'mine');
    await mkdir(join(out, '.git'));
    const before = await contents(out);

    const refused = await runPeft('quantize', input, '-o', out);
    expect(refused.code).toBe(3);
    const line = errorLine(refused.stderr);
    expect(line).toContain(`output folder ${out} already holds .git, notes.txt`);
    expect(line).toContain('--overwrite');
    expect(await contents(out)).toEqual(before);

    expect((await runPeft('quantize', input, '-o', out, '--overwrite')).code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors']);
  });
});

describe('file-system situations exit 3 with one sentence naming the path', () => {
  it('an existing file as the output of a folder input (EEXIST)', async () => {
    const input = join(tmp.dir, 'in');
    await singleFileModelFolder(input);
    const file = join(tmp.dir, 'taken');
    await writeFile(file, 'a file');
    const run = await runPeft('quantize', input, '-o', file);
    expect(run.code).toBe(3);
    const line = errorLine(run.stderr);
    expect(line).toContain(file);
    expect(line).toContain('(EEXIST)');
    expect(await readFile(file, 'utf8')).toBe('a file');
  });

  it('an output path under a file (ENOTDIR), for a file and a folder output', async () => {
    const input = join(tmp.dir, 'in');
    await singleFileModelFolder(input);
    const file = join(tmp.dir, 'plain');
    await writeFile(file, 'x');
    const fileOut = join(file, 'q.safetensors');
    const toFile = await runPeft('dequantize', join(input, 'model.safetensors'), '-o', fileOut);
    expect(toFile.code).toBe(3);
    expect(errorLine(toFile.stderr)).toBe(
      `error: cannot write ${fileOut}: a part of the path is a file, not a folder (ENOTDIR); check the path.`,
    );
    const toFolder = await runPeft('quantize', input, '-o', join(file, 'a', 'b'));
    expect(toFolder.code).toBe(3);
    expect(errorLine(toFolder.stderr)).toMatch(/\(ENOTDIR\)/);
  });
});

describe('sharded inputs whose index and shards disagree (exit 3, naming tensor and shard)', () => {
  it('a tensor a shard holds but the index does not list', async () => {
    const input = join(tmp.dir, 'in');
    await shardedModelFolder(input, {
      unlisted: new Map([['model.layers.1.mlp.up_proj.weight', fromFloat32(new Float32Array(64), [1, 64])]]),
    });
    const out = join(tmp.dir, 'out');
    const run = await runPeft('quantize', input, '-o', out);
    expect(run.code).toBe(3);
    const line = errorLine(run.stderr);
    expect(line).toContain(join(input, 'model-00002-of-00002.safetensors'));
    expect(line).toContain('[model.layers.1.mlp.up_proj.weight]');
    expect(line).toContain('does not list it');
    await expect(stat(out)).rejects.toThrow();
  });

  it('a tensor the index lists but its shard lacks', async () => {
    const input = join(tmp.dir, 'in');
    await shardedModelFolder(input, { phantom: ['model.layers.1.mlp.down_proj.weight'] });
    const run = await runPeft('quantize', input, '-o', join(tmp.dir, 'out'));
    expect(run.code).toBe(3);
    const line = errorLine(run.stderr);
    expect(line).toContain(join(input, 'model-00002-of-00002.safetensors'));
    expect(line).toContain('model.layers.1.mlp.down_proj.weight');
  });
});
