// Small checkpoints on disk for the command tests, and a way to run the CLI and capture its output.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromFloat32, type HostTensor, type StateDict } from '@peft/core';
import { openSafetensorsFile, writeSafetensorsFile } from '@peft/core/node';
import { bnb4GoldenCase } from '@peft/quant-bnb4/testing';
import { vi } from 'vitest';
import { runCli } from '../../program.js';

export interface Golden {
  params: { shape: number[] };
  input: { f32_le_b64: string };
  expected: {
    packed_b64: string;
    absmax_u8: number[];
    nested_absmax: number[];
    offset: number;
    dequantized_f32_b64: string;
    quant_state_json: string;
  };
}

/** The golden bitsandbytes case `nf4_fp16_dq_6x64` (NF4, blocksize 64, double quant, float16 input). */
export async function goldenFp16Dq(): Promise<Golden> {
  return bnb4GoldenCase('nf4_fp16_dq_6x64') as Golden;
}

export function f32FromB64(b64: string): Float32Array {
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  return new Float32Array(bytes.buffer);
}

/** Deterministic float values in about [-1, 1]. */
export function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

export const f16 = (v: Float32Array, shape: number[]): HostTensor => fromFloat32(v, shape, 'F16');

export async function tempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'peft-cli-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeFileDict(path: string, dict: StateDict): Promise<void> {
  await writeSafetensorsFile(path, dict, { format: 'pt' });
}

export async function readFileDict(path: string): Promise<StateDict> {
  const file = await openSafetensorsFile(path);
  try {
    return await file.readAll();
  } finally {
    await file.close();
  }
}

export { writeFile };

/** Runs `peft <args>` in-process and returns its exit code and what it wrote. */
export async function runPeft(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await runCli(['node', 'peft', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
