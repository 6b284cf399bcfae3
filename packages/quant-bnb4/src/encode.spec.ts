import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeDynamic8, encodeFp4, encodeNf4 } from './encode.js';
import { DYNAMIC_MAP_SIGNED, FP4_CODE, FP4_THRESHOLDS, NF4_CODE, NF4_THRESHOLDS } from './tables.js';
import { bitsOf, readFixture } from './test-support/golden.js';
import { REF_DYNAMIC, REF_FP4, REF_NF4, refDynamic8, refFp4, refNf4 } from './test-support/reference.js';

const nextUp = (x: number) => {
  const b = new Float32Array([x]);
  const u = new Uint32Array(b.buffer);
  if (x === 0) u[0] = Object.is(x, -0) ? 0x80000001 : 1;
  else u[0]! += x > 0 ? 1 : -1;
  return b[0]!;
};
const nextDown = (x: number) => -nextUp(-x);

/** Every threshold, its float32 neighbours, the levels and a spread of random values in [-1.2, 1.2]. */
function probeValues(thresholds: ArrayLike<number>, levels: ArrayLike<number>): number[] {
  const out = [
    0,
    -0,
    Number.NaN,
    1,
    -1,
    2,
    -2,
    1e-30,
    -1e-30,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ];
  for (const t of [...Array.from(thresholds), ...Array.from(levels)]) {
    for (const v of [t, -t]) out.push(v, nextUp(v), nextDown(v), nextUp(nextUp(v)), nextDown(nextDown(v)));
  }
  let seed = 12345;
  for (let i = 0; i < 20000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    out.push(Math.fround((seed / 2 ** 31) * 2.4 - 1.2));
  }
  return out;
}

describe('code tables', () => {
  const tables = readFixture<Record<string, string[]>>('tables.json');
  const hex = (a: Float32Array) => bitsOf(a).map((b) => b.toString(16).padStart(8, '0'));

  it('equal the golden tables bit for bit', () => {
    expect(hex(NF4_CODE)).toEqual(tables['nf4_code_u32_hex']);
    expect(hex(FP4_CODE)).toEqual(tables['fp4_code_u32_hex']);
    expect(hex(DYNAMIC_MAP_SIGNED)).toEqual(tables['dynamic_map_signed_u32_hex']);
  });

  it('the dynamic map hashes to the published SHA-256 and is symmetric without -1', () => {
    const sha = createHash('sha256').update(new Uint8Array(DYNAMIC_MAP_SIGNED.buffer)).digest('hex');
    expect(sha).toBe('e732639a65f497b4ad684bb166a4467708255edd5207757de8b8f0c7e1fda89c');
    for (let k = 0; k < 127; k++) expect(DYNAMIC_MAP_SIGNED[254 - k]).toBe(-DYNAMIC_MAP_SIGNED[k]!);
    expect(DYNAMIC_MAP_SIGNED[255]).toBe(1);
    expect(DYNAMIC_MAP_SIGNED[0]).toBeGreaterThan(-1);
  });

  it('NF4 thresholds are the float32 midpoints of the levels', () => {
    for (let k = 0; k < 15; k++) {
      expect(NF4_THRESHOLDS[k]).toBe(Math.fround(Math.fround(NF4_CODE[k]! + NF4_CODE[k + 1]!) / 2));
    }
  });
});

describe('encoders agree with the reference at every threshold and its neighbours', () => {
  it('encodeNf4', () => {
    const bad = probeValues(NF4_THRESHOLDS, REF_NF4).filter((s) => encodeNf4(s) !== refNf4(s));
    expect(bad).toEqual([]);
  });

  it('encodeFp4', () => {
    const bad = probeValues(FP4_THRESHOLDS, REF_FP4).filter((s) => encodeFp4(s) !== refFp4(s));
    expect(bad).toEqual([]);
  });

  it('encodeDynamic8', () => {
    const mids = Array.from({ length: 255 }, (_, j) =>
      Math.fround(Math.fround(REF_DYNAMIC[j]! + REF_DYNAMIC[j + 1]!) * 0.5),
    );
    const bad = probeValues(mids, REF_DYNAMIC).filter((s) => encodeDynamic8(s) !== refDynamic8(s));
    expect(bad).toEqual([]);
  });
});

describe('encoder edge semantics (spec §1, §4)', () => {
  it('NF4: a tie takes the lower code, NaN gives 0, out-of-range saturates', () => {
    expect(encodeNf4(NF4_THRESHOLDS[7]!)).toBe(7);
    expect(encodeNf4(nextUp(NF4_THRESHOLDS[7]!))).toBe(8);
    expect(encodeNf4(Number.NaN)).toBe(0);
    expect(encodeNf4(0)).toBe(7);
    expect(encodeNf4(5)).toBe(15);
    expect(encodeNf4(-5)).toBe(0);
  });

  it('FP4: -0 and NaN are positive, tiny negatives are code 8, literal thresholds win over midpoints', () => {
    expect(encodeFp4(-0)).toBe(0);
    expect(encodeFp4(Number.NaN)).toBe(0);
    expect(encodeFp4(-1e-4)).toBe(8);
    expect(encodeFp4(1e-4)).toBe(0);
    // 0.58333313 lies between the kernel's literal 0.583333 and the true midpoint: CUDA gives 2/3 (code 2).
    expect(encodeFp4(Math.fround(0.58333313))).toBe(2);
    // A negative exact tie goes toward zero.
    expect(encodeFp4(-FP4_THRESHOLDS[1]!)).toBe(8 | 0b001);
  });

  it('8-bit: exact midpoint ties go to the even index, NaN to 0, values above the map to 255', () => {
    const mid = Math.fround(Math.fround(DYNAMIC_MAP_SIGNED[200]! + DYNAMIC_MAP_SIGNED[201]!) * 0.5);
    expect(encodeDynamic8(mid)).toBe(200);
    const mid2 = Math.fround(Math.fround(DYNAMIC_MAP_SIGNED[201]! + DYNAMIC_MAP_SIGNED[202]!) * 0.5);
    expect(encodeDynamic8(mid2)).toBe(202);
    expect(encodeDynamic8(Number.NaN)).toBe(0);
    expect(encodeDynamic8(1)).toBe(255);
    expect(encodeDynamic8(-1)).toBe(0);
    expect(encodeDynamic8(0)).toBe(127);
  });
});
