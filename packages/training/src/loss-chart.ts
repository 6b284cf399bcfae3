// A small loss chart as hand-written SVG: one polyline for the training loss, a dot per evaluation. A chart
// library would bring a DOM or canvas dependency (and kilobytes of code) for two series of points; SVG text
// opens in any browser and in image viewers, in Node and in the browser alike.

export interface LossPoint {
  readonly step: number;
  readonly loss: number;
}

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 56, right: 16, top: 16, bottom: 36 };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Shortest text that tells ticks apart (a few significant digits). */
function tickLabel(value: number): string {
  return Number(value.toPrecision(3)).toString();
}

/**
 * An SVG of the training loss per step (a polyline with one point per step) and the evaluation losses
 * (circles). Non-finite values are left out; a run with no finite point gives an empty chart.
 */
export function lossChartSvg(
  train: readonly LossPoint[],
  evals: readonly LossPoint[],
  title = 'loss',
): string {
  const finite = (p: LossPoint) => Number.isFinite(p.step) && Number.isFinite(p.loss);
  const trainPoints = train.filter(finite);
  const evalPoints = evals.filter(finite);
  const all = [...trainPoints, ...evalPoints];
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const lossValues = all.map((p) => p.loss);
  let low = lossValues.length > 0 ? Math.min(...lossValues) : 0;
  let high = lossValues.length > 0 ? Math.max(...lossValues) : 1;
  if (high - low < 1e-9) {
    low -= 0.5;
    high += 0.5;
  }
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (step: number) => (MARGIN.left + (step / maxStep) * plotW).toFixed(2);
  const y = (loss: number) => (MARGIN.top + ((high - loss) / (high - low)) * plotH).toFixed(2);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => low + f * (high - low));
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<g stroke="#ddd">${ticks.map((t) => `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(t)}" y2="${y(t)}"/>`).join('')}</g>`,
    `<g fill="#444" text-anchor="end">${ticks.map((t) => `<text x="${MARGIN.left - 6}" y="${y(t)}" dy="4">${tickLabel(t)}</text>`).join('')}</g>`,
    `<g fill="#444" text-anchor="middle"><text x="${x(0)}" y="${HEIGHT - 18}">0</text><text x="${x(maxStep)}" y="${HEIGHT - 18}">${maxStep}</text><text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 4}">step</text></g>`,
    `<polyline class="train-loss" fill="none" stroke="#1f77b4" stroke-width="1.5" points="${trainPoints.map((p) => `${x(p.step)},${y(p.loss)}`).join(' ')}"/>`,
    `<g class="eval-loss" fill="#d62728">${evalPoints.map((p) => `<circle cx="${x(p.step)}" cy="${y(p.loss)}" r="3.5"/>`).join('')}</g>`,
    `<g font-size="12"><text x="${MARGIN.left + 8}" y="${MARGIN.top + 14}" fill="#1f77b4">train loss</text>` +
      (evalPoints.length > 0
        ? `<text x="${MARGIN.left + 90}" y="${MARGIN.top + 14}" fill="#d62728">eval loss</text>`
        : '') +
      '</g>',
    '</svg>',
  ];
  return `${lines.join('\n')}\n`;
}
