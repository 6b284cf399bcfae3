// Checkpoints as folders: `<output>/checkpoint-<step>/` holding the model's files (a PEFT adapter folder),
// `optimizer.safetensors` and `trainer_state.json`. Each is assembled in a staging folder beside it and
// renamed into place, so a checkpoint folder is always complete; an interrupted save leaves the previous
// ones untouched.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, parseSafetensors } from '@peft/core';
import { ownedEntryName, removeStaleWrites, writeFileAtomic, writeSafetensorsFile } from '@peft/core/node';
import { type CheckpointData, type CheckpointStore, checkTrainerState } from '../checkpoint-store.js';

export const TRAINER_STATE_NAME = 'trainer_state.json';
export const OPTIMIZER_NAME = 'optimizer.safetensors';
const CHECKPOINT_DIR = /^checkpoint-(\d+)$/;
export function checkpointDirName(step: number): string {
  return `checkpoint-${step}`;
}

/** Checkpoints in `checkpoint-<step>` folders of `outputDir`. */
export class FileCheckpointStore implements CheckpointStore {
  constructor(readonly outputDir: string) {}

  location(step: number): string {
    return join(this.outputDir, checkpointDirName(step));
  }

  async list(): Promise<number[]> {
    const entries = await readdir(this.outputDir, { withFileTypes: true }).catch(() => []);
    const steps: number[] = [];
    for (const entry of entries) {
      const m = CHECKPOINT_DIR.exec(entry.name);
      if (!m || !entry.isDirectory()) continue;
      if (await stat(join(this.outputDir, entry.name, TRAINER_STATE_NAME)).catch(() => null))
        steps.push(Number(m[1]));
    }
    return steps.sort((a, b) => a - b);
  }

  async write(data: CheckpointData): Promise<string> {
    await mkdir(this.outputDir, { recursive: true });
    // What a killed run left here (staging folders, temp files of its process) goes; only entries named as
    // ours whose process is gone are touched.
    await removeStaleWrites(this.outputDir);
    const checkpointName = checkpointDirName(data.state.global_step);
    // mkdir, not mkdtemp: the checkpoint keeps the usual folder permissions once renamed into place.
    const staging = join(this.outputDir, ownedEntryName(checkpointName, 'staging'));
    await mkdir(staging);
    const target = this.location(data.state.global_step);
    try {
      for (const [name, bytes] of data.files) await writeFileAtomic(join(staging, name), bytes);
      await writeSafetensorsFile(join(staging, OPTIMIZER_NAME), data.optimizer, { format: 'pt' });
      await writeFileAtomic(join(staging, TRAINER_STATE_NAME), `${JSON.stringify(data.state, null, 2)}\n`);
      // rename() cannot replace a non-empty folder: move an old one of the same step aside first.
      const old = (await stat(target).catch(() => null))
        ? join(this.outputDir, ownedEntryName(checkpointName, 'replaced'))
        : null;
      if (old) await rename(target, old);
      await rename(staging, target);
      if (old) await rm(old, { recursive: true, force: true });
      return target;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }

  async read(step: number): Promise<CheckpointData> {
    const dir = this.location(step);
    const statePath = join(dir, TRAINER_STATE_NAME);
    let json: unknown;
    try {
      json = JSON.parse(await readFile(statePath, 'utf8'));
    } catch (cause) {
      throw new ConfigError(`${statePath}: cannot be read as JSON (${(cause as Error).message})`);
    }
    const state = checkTrainerState(json, step, statePath);
    const optimizerPath = join(dir, OPTIMIZER_NAME);
    const optimizerBytes = await readFile(optimizerPath).catch((cause: Error) => {
      throw new ConfigError(`${optimizerPath} cannot be read: ${cause.message}`);
    });
    const optimizer = await parseSafetensors(new Uint8Array(optimizerBytes), optimizerPath).readAll();
    const files = new Map<string, Uint8Array>();
    for (const name of await readdir(dir)) {
      if (name === TRAINER_STATE_NAME || name === OPTIMIZER_NAME) continue;
      const info = await stat(join(dir, name));
      if (info.isFile()) files.set(name, new Uint8Array(await readFile(join(dir, name))));
    }
    return { files, optimizer, state };
  }

  async prune(keep: number): Promise<void> {
    if (keep <= 0) return;
    const steps = await this.list();
    for (const step of steps.slice(0, Math.max(0, steps.length - keep))) {
      await rm(this.location(step), { recursive: true, force: true });
    }
  }
}
