import { describe, expect, it } from 'vitest';
import { type ChartGeometry, layoutLossChart } from './loss-chart.js';

const GEOMETRY: ChartGeometry = {
  width: 110,
  height: 60,
  padding: { left: 10, right: 0, top: 0, bottom: 10 },
};

/** The (x, y) pairs of an "M x,y L x,y ..." path. */
function points(path: string): [number, number][] {
  return path.split(' ').map((part) => part.slice(1).split(',').map(Number) as [number, number]);
}

describe('layoutLossChart', () => {
  it('puts step 1 at the left, the last planned step at the right, the highest loss on top', () => {
    const layout = layoutLossChart(
      [
        { step: 1, loss: 4 },
        { step: 2, loss: 2 },
        { step: 3, loss: 3 },
      ],
      11,
      GEOMETRY,
    );
    expect(layout.steps).toEqual([1, 11]);
    expect(layout.losses).toEqual([2, 4]);
    expect(layout.path.startsWith('M')).toBe(true);
    // Plot area x 10..110 over steps 1..11 (10 px a step), y 0..50 over losses 4..2.
    expect(points(layout.path)).toEqual([
      [10, 0],
      [20, 50],
      [30, 25],
    ]);
  });

  it('handles no points, a flat line and non-finite losses without NaN coordinates', () => {
    expect(layoutLossChart([], 5, GEOMETRY).path).toBe('');
    const flat = layoutLossChart(
      [
        { step: 1, loss: 2 },
        { step: 2, loss: 2 },
      ],
      1,
      GEOMETRY,
    );
    expect(flat.losses).toEqual([1.5, 2.5]);
    expect(flat.steps).toEqual([1, 2]);
    expect(points(flat.path)).toEqual([
      [10, 25],
      [110, 25],
    ]);
    const gap = layoutLossChart(
      [
        { step: 1, loss: 3 },
        { step: 2, loss: Number.NaN },
        { step: 3, loss: 1 },
      ],
      3,
      GEOMETRY,
    );
    expect(gap.path).not.toMatch(/NaN/);
    expect(points(gap.path)).toHaveLength(2);
  });
});
