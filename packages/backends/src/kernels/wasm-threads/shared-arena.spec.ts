import { describe, expect, it } from 'vitest';
import { SharedArena, SharedArenaError } from './shared-arena.js';

describe('SharedArena', () => {
  it('hands out aligned, non-overlapping blocks in a shared memory', () => {
    const arena = new SharedArena();
    expect(arena.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const a = arena.alloc(10);
    const b = arena.alloc(100);
    const c = arena.alloc(64);
    for (const offset of [a, b, c]) expect(offset % 64).toBe(0);
    expect(a).toBeGreaterThan(0); // 0 is never a block
    expect(b).toBeGreaterThanOrEqual(a + 10);
    expect(c).toBeGreaterThanOrEqual(b + 100);
    expect(arena.usedBytes).toBe(64 + 128 + 64);
  });

  it('reuses freed space, merging neighbours', () => {
    const arena = new SharedArena();
    const a = arena.alloc(64);
    const b = arena.alloc(64);
    const c = arena.alloc(64);
    arena.alloc(64); // keeps c's end below the top
    arena.release(a);
    arena.release(c);
    arena.release(b); // a, b, c now one free range
    expect(arena.alloc(192)).toBe(a);
  });

  it('gives space back to the top when the last block is freed', () => {
    const arena = new SharedArena();
    const a = arena.alloc(64);
    const b = arena.alloc(64);
    arena.release(a);
    arena.release(b); // b was on top; a, free below it, goes back too
    expect(arena.usedBytes).toBe(0);
    expect(arena.alloc(256)).toBe(a);
  });

  it('grows the memory, keeping what was written', () => {
    const arena = new SharedArena();
    const a = arena.alloc(16);
    arena.bytes(a, 16).fill(7);
    const big = arena.alloc(3 << 20);
    expect(arena.memory.buffer.byteLength).toBeGreaterThanOrEqual(big + (3 << 20));
    expect(Array.from(arena.bytes(a, 16))).toEqual(new Array(16).fill(7));
  });

  it('refuses more than a wasm32 memory can hold, and a free of nothing, with typed errors', () => {
    const arena = new SharedArena();
    expect(() => arena.alloc(2 ** 32)).toThrow(SharedArenaError);
    expect(() => arena.alloc(2 ** 32)).toThrow(/4 GiB/);
    expect(arena.usedBytes).toBe(0);
    expect(() => arena.release(4096)).toThrow(/no block at offset 4096/);
  });
});
