import type { WasmBackendLike } from '../backend-access.js';

/**
 * Scratch memory in the wasm heap for one kernel call, freed by `release`. Offsets stay valid when the heap
 * grows; typed-array views do not, so `f32`/`u8` make fresh views each time.
 */
export class HeapScratch {
  private readonly pointers: number[] = [];

  constructor(private readonly backend: WasmBackendLike) {}

  alloc(bytes: number): number {
    const pointer = this.backend.wasm._malloc(Math.max(16, bytes)) >>> 0;
    if (pointer === 0) throw new Error(`wasm heap: cannot allocate ${bytes} bytes of scratch`);
    this.pointers.push(pointer);
    return pointer;
  }

  f32(pointer: number, length: number): Float32Array {
    return new Float32Array(this.backend.wasm.HEAPU8.buffer, pointer, length);
  }

  u8(pointer: number, length: number): Uint8Array {
    return new Uint8Array(this.backend.wasm.HEAPU8.buffer, pointer, length);
  }

  release(): void {
    for (const pointer of this.pointers) this.backend.wasm._free(pointer);
    this.pointers.length = 0;
  }
}
