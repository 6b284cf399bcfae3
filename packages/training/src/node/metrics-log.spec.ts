import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOSS_CHART_FILE_NAME, METRICS_FILE_NAME, MetricsLog } from './metrics-log.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metrics-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stepLine = (step: number) => ({
  step,
  loss: 3 - step / 10,
  learning_rate: 0.01,
  grad_norm: 0.5,
  tokens_per_second: 100,
  peak_rss_bytes: 1e8,
  tf_bytes: 1e6,
});

async function lines(): Promise<{ step: number; loss?: number; eval_loss?: number }[]> {
  const text = await readFile(join(dir, METRICS_FILE_NAME), 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

describe('MetricsLog', () => {
  it('a resumed run drops the lines after its checkpoint, so each step appears once', async () => {
    const first = await MetricsLog.open(dir, 0);
    for (let s = 1; s <= 5; s++) first.append(stepLine(s));
    first.append({ step: 4, eval_loss: 2.5, eval_perplexity: Math.exp(2.5) });
    // A killed process can leave a torn last line.
    await writeFile(
      join(dir, METRICS_FILE_NAME),
      `${await readFile(join(dir, METRICS_FILE_NAME), 'utf8')}{"step": 6, "lo`,
    );
    const resumed = await MetricsLog.open(dir, 4);
    for (let s = 5; s <= 8; s++) resumed.append(stepLine(s));
    resumed.append({ step: 8, eval_loss: 2.2, eval_perplexity: Math.exp(2.2) });
    const read = await lines();
    expect(read.filter((l) => 'loss' in l).map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(read.filter((l) => 'eval_loss' in l).map((l) => l.step)).toEqual([4, 8]);
    expect(read[0]).toEqual(stepLine(1));

    await resumed.writeChart();
    const svg = await readFile(join(dir, LOSS_CHART_FILE_NAME), 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false }).parse(svg);
    const points = (parsed.svg.polyline['@_points'] as string).split(' ');
    expect(points).toHaveLength(8);
    // SVG y grows downwards: a falling loss is drawn falling (larger y at the end).
    const ys = points.map((p) => Number(p.split(',')[1]));
    expect(ys[7]).toBeGreaterThan(ys[0]!);
    expect(svg.match(/<circle /g)).toHaveLength(2);
  });

  it('a new run starts an empty file over an old one', async () => {
    const old = await MetricsLog.open(dir, 0);
    old.append(stepLine(1));
    await MetricsLog.open(dir, 0);
    expect(await readFile(join(dir, METRICS_FILE_NAME), 'utf8')).toBe('');
  });
});
