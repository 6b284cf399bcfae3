import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownedEntryName } from '@peft/core/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CheckpointData, TRAINER_STATE_FORMAT } from '../checkpoint-store.js';
import { FileCheckpointStore } from './file-checkpoint-store.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peft-checkpoints-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function checkpoint(step: number): CheckpointData {
  return {
    files: new Map([['adapter_config.json', new TextEncoder().encode('{"peft_type": "LORA"}')]]),
    optimizer: new Map([
      ['step', { dtype: 'F32', shape: [1], data: new Uint8Array(new Float32Array([step]).buffer) }],
    ]),
    state: {
      format: TRAINER_STATE_FORMAT,
      version: 1,
      global_step: step,
      max_steps: 10,
      sampler: { seed: 0, epoch: 0, position: step },
      adapter_random: null,
      tokens_seen: 0,
      fingerprint: 'f',
      run: {},
      log_history: [],
    },
  };
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('FileCheckpointStore', () => {
  it('writes, lists, reads back and prunes whole checkpoints', async () => {
    const store = new FileCheckpointStore(dir);
    for (const step of [1, 2, 3]) await store.write(checkpoint(step));
    expect(await store.list()).toEqual([1, 2, 3]);
    const read = await store.read(2);
    expect(read.state.global_step).toBe(2);
    expect(new Float32Array(read.optimizer.get('step')!.data.slice().buffer)[0]).toBe(2);
    expect(new TextDecoder().decode(read.files.get('adapter_config.json'))).toContain('LORA');
    await store.prune(2);
    expect(await store.list()).toEqual([2, 3]);
  });

  it("removes a killed run's staging folders on the next write, and only those", async () => {
    const killed = ownedEntryName('checkpoint-4', 'staging').replace(`-${process.pid}-`, `-${deadPid()}-`);
    const running = ownedEntryName('checkpoint-5', 'staging');
    const users = '.checkpoint-staging-mine';
    for (const name of [killed, running, users]) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'adapter_model.safetensors'), new Uint8Array(26));
    }
    await new FileCheckpointStore(dir).write(checkpoint(6));
    const names = await readdir(dir);
    expect(names).not.toContain(killed);
    expect(names).toContain(running);
    expect(names).toContain(users);
    expect(names).toContain('checkpoint-6');
  });
});
