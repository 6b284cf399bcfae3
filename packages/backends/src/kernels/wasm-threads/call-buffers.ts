import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';
import type { WasmBackendLike } from '../backend-access.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { JobWeight, KernelThreads } from './kernel-threads.js';
import type { RowPlan } from './row-plan.js';
import { type SharedArena, SharedArenaError } from './shared-arena.js';
import { mirrorWeight } from './weight-mirror.js';

/** One call's buffers in the arena, all freed by release() (call it in a finally, after waiting for the workers). */
export class CallBuffers {
  private readonly blocks: number[] = [];

  constructor(private readonly arena: SharedArena) {}

  /** Offsets of fresh buffers of these byte sizes, or null when the arena cannot hold them all. */
  allocAll(sizes: readonly number[]): number[] | null {
    try {
      return sizes.map((bytes) => {
        const offset = this.arena.alloc(bytes);
        this.blocks.push(offset);
        return offset;
      });
    } catch (err) {
      if (err instanceof SharedArenaError) return null;
      throw err;
    }
  }

  release(): void {
    for (const block of this.blocks) this.arena.release(block);
    this.blocks.length = 0;
  }
}

/**
 * The part of every worker job that names the weight (its arena copy, made on first use) and the row plan, or null
 * when the arena cannot hold the copy (the caller then runs on its own thread).
 */
export function jobWeight(
  threads: KernelThreads,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  a: Bnb4Attrs,
  plan: RowPlan,
): JobWeight | null {
  try {
    const weight = mirrorWeight(threads.arena, backend, inputs, a, plan.first);
    return {
      packed: weight.packedBase,
      absmax: weight.absmax,
      nested: a.nested,
      nestedAbsmax: weight.nestedAbsmax,
      nestedCode: weight.nestedCode,
      nestedBlocksize: a.nestedBlocksize,
      offset: a.offset,
      code: weight.code,
      blocksizeLog2: Math.log2(a.blocksize),
      outFeatures: a.outFeatures,
      inFeatures: a.inFeatures,
      chunkFirst: plan.first,
      chunkRows: plan.chunkRows,
      chunkCount: plan.chunkCount,
    };
  } catch (err) {
    if (err instanceof SharedArenaError) return null;
    throw err;
  }
}

/** Rows [start, end) of W for chunk c of the plan. */
export function chunkRange(plan: RowPlan, N: number, c: number): [number, number] {
  const start = plan.first + c * plan.chunkRows;
  return [start, Math.min(N, start + plan.chunkRows)];
}
