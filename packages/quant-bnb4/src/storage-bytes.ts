// Bytes of one bitsandbytes 4-bit weight from its element count alone, for planning without quantizing.
import { NESTED_BLOCKSIZE } from './types.js';

/**
 * Bytes of one 4-bit weight of `n` values: packed nibbles, absmax (float32, or 8-bit codes with a
 * float32 scale per 256 codes and a 256-entry code table under double quantization) and the 16-entry
 * code table. `disk`: bitsandbytes' tensors as saved (the quant-state JSON entry, a few hundred bytes,
 * is not counted). `memory`: as `Bnb4Linear` holds them, its byte arrays in int32 words, so each is
 * padded to a multiple of 4 (its `storageBytes`).
 */
export function bnb4StorageBytes(
  n: number,
  blocksize: number,
  doubleQuant: boolean,
): { disk: number; memory: number } {
  return {
    disk: weightBytes(n, blocksize, doubleQuant, false),
    memory: weightBytes(n, blocksize, doubleQuant, true),
  };
}

function weightBytes(n: number, blocksize: number, doubleQuant: boolean, held: boolean): number {
  const words = (bytes: number) => (held ? Math.ceil(bytes / 4) * 4 : bytes);
  const blocks = Math.ceil(n / blocksize);
  const quantMap = 16 * 4;
  const packed = words(Math.ceil(n / 2));
  if (!doubleQuant) return packed + blocks * 4 + quantMap;
  return packed + words(blocks) + Math.ceil(blocks / NESTED_BLOCKSIZE) * 4 + 256 * 4 + quantMap;
}
