import type { NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { type WasmBackendLike, wasmBytes } from '../backend-access.js';
import type { Bnb4Attrs } from '../kernel-names.js';
import type { SharedArena } from './shared-arena.js';

// Copies of 4-bit weights in the shared arena, for the kernel workers (kernel-threads.ts says why they need one).
// Only the rows workers may claim are copied (rows firstRow .. N - 1; rows before that are the calling thread's
// alone, read from the tfjs heap), with the whole scale arrays (1/32 of the packed bytes with double quantization).
// A copy lives as long as its tensor: it is keyed by the packed tensor's dataId (TensorFlow.js tensors never
// change their data), dropped by releaseWeightMirror when the weight is disposed, and, for tensors disposed any
// other way, when the dataId is garbage-collected.

/** Pointers into the arena, as bindWeights takes them. */
export interface MirroredWeight {
  /** Where row 0 would start: the copy starts at row firstRow (wasm32 pointer arithmetic wraps, so this may wrap). */
  packedBase: number;
  absmax: number;
  nestedAbsmax: number;
  nestedCode: number;
  code: number;
  firstRow: number;
}

interface Mirror extends MirroredWeight {
  arena: SharedArena;
  blocks: number[];
  bytes: number;
}

const mirrors = new WeakMap<object, Mirror>();
const live = new Set<Mirror>();
let mirroredBytes = 0;

function free(mirror: Mirror): void {
  live.delete(mirror);
  for (const block of mirror.blocks) mirror.arena.release(block);
  mirror.blocks.length = 0;
  mirroredBytes -= mirror.bytes;
  mirror.bytes = 0;
}

const collected = new FinalizationRegistry<Mirror>(free);

/** Bytes of weights held in copies for the kernel workers. */
export function weightMirrorBytes(): number {
  return mirroredBytes;
}

/**
 * The arena copy of rows firstRow.. of a weight, made on first use. `inputs` are the kernel's weight inputs on
 * the wasm backend.
 */
export function mirrorWeight(
  arena: SharedArena,
  backend: WasmBackendLike,
  inputs: NamedTensorInfoMap,
  attrs: Bnb4Attrs,
  firstRow: number,
): MirroredWeight {
  const packed = inputs['packed']!;
  const key = packed.dataId as object;
  const known = mirrors.get(key);
  if (known && known.arena === arena && known.firstRow === firstRow) return known;
  if (known) releaseWeightMirror(packed);

  const mirror: Mirror = {
    packedBase: 0,
    absmax: 0,
    nestedAbsmax: 0,
    nestedCode: 0,
    code: 0,
    firstRow,
    arena,
    blocks: [],
    bytes: 0,
  };
  // The arena may grow on each allocation, so its view is taken after; the tfjs heap does not move meanwhile.
  const copy = (tensor: TensorInfo | undefined, start = 0): number => {
    if (!tensor) return 0;
    const source = wasmBytes(backend, tensor).subarray(start);
    const offset = arena.alloc(source.length);
    mirror.blocks.push(offset);
    mirror.bytes += source.length;
    arena.bytes(offset, source.length).set(source);
    return offset;
  };
  const rowBytes = attrs.inFeatures / 2;
  try {
    const rows = copy(packed, firstRow * rowBytes);
    mirror.packedBase = (rows - firstRow * rowBytes) | 0;
    mirror.absmax = copy(inputs['absmax']);
    mirror.nestedAbsmax = attrs.nested ? copy(inputs['nestedAbsmax']) : 0;
    mirror.nestedCode = attrs.nested ? copy(inputs['nestedCode']) : 0;
    mirror.code = copy(inputs['code']);
  } catch (err) {
    for (const block of mirror.blocks) arena.release(block);
    throw err;
  }
  mirroredBytes += mirror.bytes;
  live.add(mirror);
  mirrors.set(key, mirror);
  collected.register(key, mirror, mirror);
  return mirror;
}

/** Drops every copy held in `arena` (its threads stopped). */
export function releaseMirrorsIn(arena: SharedArena): void {
  for (const mirror of [...live]) {
    if (mirror.arena !== arena) continue;
    collected.unregister(mirror);
    free(mirror);
  }
}

/** Drops the arena copy of a weight (by its packed tensor), if there is one. */
export function releaseWeightMirror(packed: { dataId: unknown }): void {
  const key = packed.dataId as object;
  const mirror = mirrors.get(key);
  if (!mirror) return;
  mirrors.delete(key);
  collected.unregister(mirror);
  free(mirror);
}
