/** One training step on the chart. */
export interface LossPoint {
  step: number;
  loss: number;
}

export interface ChartGeometry {
  width: number;
  height: number;
  /** Room left for the axis labels. */
  padding: { left: number; right: number; top: number; bottom: number };
}

export const DEFAULT_GEOMETRY: ChartGeometry = {
  width: 640,
  height: 240,
  padding: { left: 48, right: 12, top: 12, bottom: 28 },
};

export interface ChartLayout {
  /** SVG path `d` of the loss line ("" for no points). */
  path: string;
  /** Axis ranges the path was scaled to. */
  steps: [number, number];
  losses: [number, number];
}

/**
 * Scales the points into the plot area: steps from the first to `totalSteps` left to right (so the line
 * grows across the chart as training goes), loss from its min to max bottom to top. A plain SVG path:
 * a few hundred points need no chart library.
 */
export function layoutLossChart(
  points: readonly LossPoint[],
  totalSteps: number,
  geometry: ChartGeometry = DEFAULT_GEOMETRY,
): ChartLayout {
  const finite = points.filter((p) => Number.isFinite(p.loss));
  const firstStep = 1;
  const lastStep = Math.max(totalSteps, firstStep + 1, ...finite.map((p) => p.step));
  if (finite.length === 0) return { path: '', steps: [firstStep, lastStep], losses: [0, 1] };
  let low = Math.min(...finite.map((p) => p.loss));
  let high = Math.max(...finite.map((p) => p.loss));
  if (high - low < 1e-9) {
    low -= 0.5;
    high += 0.5;
  }
  const { width, height, padding } = geometry;
  const plotW = width - padding.left - padding.right;
  const plotH = height - padding.top - padding.bottom;
  const x = (step: number) => padding.left + ((step - firstStep) / (lastStep - firstStep)) * plotW;
  const y = (loss: number) => padding.top + ((high - loss) / (high - low)) * plotH;
  const path = finite
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`)
    .join(' ');
  return { path, steps: [firstStep, lastStep], losses: [low, high] };
}

const SVG = 'http://www.w3.org/2000/svg';

function svgElement<K extends keyof SVGElementTagNameMap>(
  name: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Redraws the chart into `svg` (cheap: one path and four labels). */
export function renderLossChart(
  svg: SVGSVGElement,
  points: readonly LossPoint[],
  totalSteps: number,
  geometry: ChartGeometry = DEFAULT_GEOMETRY,
): void {
  const { width, height, padding } = geometry;
  const layout = layoutLossChart(points, totalSteps, geometry);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const bottom = height - padding.bottom;
  const children: SVGElement[] = [
    svgElement('rect', {
      x: padding.left,
      y: padding.top,
      width: width - padding.left - padding.right,
      height: bottom - padding.top,
      class: 'plot',
    }),
    svgElement('path', { d: layout.path, class: 'loss-line' }),
    svgElement(
      'text',
      { x: padding.left - 6, y: padding.top + 10, 'text-anchor': 'end' },
      layout.losses[1].toFixed(2),
    ),
    svgElement('text', { x: padding.left - 6, y: bottom, 'text-anchor': 'end' }, layout.losses[0].toFixed(2)),
    svgElement('text', { x: padding.left, y: height - 8 }, `step ${layout.steps[0]}`),
    svgElement(
      'text',
      { x: width - padding.right, y: height - 8, 'text-anchor': 'end' },
      `${layout.steps[1]}`,
    ),
  ];
  svg.replaceChildren(...children);
}
