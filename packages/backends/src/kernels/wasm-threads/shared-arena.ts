// A shared WebAssembly.Memory that the kernel threads all see, with a first-fit allocator run by the thread that
// owns it (the one calling kernels; workers never allocate). Written here because the kernels' AssemblyScript
// module has no allocator of its own (it must not own memory, see assembly/bnb4.ts) and a general-purpose
// malloc would be far more than the handful of long-lived weight copies and per-call buffers this holds.

const PAGE = 65536;
/** The most a wasm32 memory can hold, and the maximum the shared module declares (scripts/build-wasm.mjs). */
const MAX_PAGES = 65536;
const ALIGN = 64; // one cache line: no two threads' buffers share one

interface Block {
  offset: number;
  bytes: number;
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

export class SharedArenaError extends Error {
  override readonly name = 'SharedArenaError';
}

export class SharedArena {
  readonly memory: WebAssembly.Memory;
  /** Free ranges, sorted by offset, never adjacent (merged on free). */
  private readonly free: Block[] = [];
  private readonly used = new Map<number, number>();
  private top: number;

  constructor(initialBytes = PAGE) {
    const pages = Math.max(1, Math.ceil(initialBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    // Offset 0 stays unused so that a zero pointer is never a real buffer.
    this.top = ALIGN;
  }

  /** Bytes handed out and not yet freed. */
  get usedBytes(): number {
    let total = 0;
    for (const bytes of this.used.values()) total += bytes;
    return total;
  }

  alloc(bytes: number): number {
    const size = alignUp(Math.max(1, bytes));
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i]!;
      if (block.bytes < size) continue;
      const offset = block.offset;
      if (block.bytes === size) this.free.splice(i, 1);
      else {
        block.offset += size;
        block.bytes -= size;
      }
      this.used.set(offset, size);
      return offset;
    }
    const offset = this.top;
    this.ensureCapacity(offset + size);
    this.top = offset + size;
    this.used.set(offset, size);
    return offset;
  }

  release(offset: number): void {
    const size = this.used.get(offset);
    if (size === undefined) throw new SharedArenaError(`shared arena: no block at offset ${offset} to free`);
    this.used.delete(offset);
    if (offset + size === this.top) {
      this.top = offset;
      // A free block that now ends at the top goes back to the top too.
      const last = this.free[this.free.length - 1];
      if (last && last.offset + last.bytes === this.top) {
        this.top = last.offset;
        this.free.pop();
      }
      return;
    }
    let i = 0;
    while (i < this.free.length && this.free[i]!.offset < offset) i++;
    const block: Block = { offset, bytes: size };
    this.free.splice(i, 0, block);
    const next = this.free[i + 1];
    if (next && block.offset + block.bytes === next.offset) {
      block.bytes += next.bytes;
      this.free.splice(i + 1, 1);
    }
    const previous = this.free[i - 1];
    if (previous && previous.offset + previous.bytes === block.offset) {
      previous.bytes += block.bytes;
      this.free.splice(i, 1);
    }
  }

  /** A fresh view (views of a shared memory stay valid after growth but do not cover the new pages). */
  bytes(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, offset, length);
  }

  float32(offset: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, offset, length);
  }

  private ensureCapacity(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES)
      throw new SharedArenaError(
        `shared arena: ${end} bytes needed, more than the 4 GiB a wasm32 memory can hold (kernel threads keep a copy of each 4-bit weight's rows here)`,
      );
    // Grow by at least half again, so that a run of allocations does not grow page by page.
    this.memory.grow(Math.min(MAX_PAGES - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 2))));
  }
}
