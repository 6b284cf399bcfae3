import { describe, expect, it } from 'vitest';
import { baseLayerRows, defineMatrix, methodRows } from './index.js';

describe('the matrix covers', () => {
  it('every shipped method and every base layer kind', () => {
    expect(methodRows.map((m) => m.name)).toEqual(['vera', 'lora']);
    expect(baseLayerRows.map((b) => b.name)).toEqual(['dense', 'nf4', 'nf4-dq', 'fp4', 'fp4-dq']);
  });
});

defineMatrix(methodRows, baseLayerRows);
