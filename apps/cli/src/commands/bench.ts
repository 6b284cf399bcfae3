import { cpus } from 'node:os';
import { ConfigError } from '@peft/core';
import { writeFileAtomic } from '@peft/core/node';
import type { Command } from 'commander';
import type { BenchCase } from '../bench/harness.js';

/** Every benchmark suite, by name; each measures our path and its baseline side by side in one run. */
const SUITES: Record<string, () => Promise<{ run(): Promise<BenchCase[]> }>> = {
  'bnb4-matmul': () => import('../bench/bnb4-matmul.js'),
  'bnb4-matmul-relaxed': () => import('../bench/bnb4-matmul-relaxed.js'),
  'bnb4-dequantize': () => import('../bench/bnb4-dequantize.js'),
  'dense-matmul': () => import('../bench/dense-matmul.js'),
  'bnb4-quantize': () => import('../bench/bnb4-quantize.js'),
  'finetune-shapes': () => import('../bench/finetune-shapes.js'),
  'generate-shapes': () => import('../bench/generate-shapes.js'),
};

export interface BenchReport {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  cases: (BenchCase & { suite: string })[];
}

function formatTable(cases: BenchReport['cases']): string {
  const rows = cases.map((c) => [
    c.name,
    Object.entries(c.shape)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    c.ours_ms.toFixed(3),
    c.baseline_ms.toFixed(3),
    `${c.speedup.toFixed(2)}x`,
    c.goal ?? '',
  ]);
  const header = ['case', 'shape', 'ours ms', 'baseline ms', 'speedup', 'goal'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export async function runBench(options: { json?: string; only?: string[] }): Promise<BenchReport> {
  const names = options.only?.length ? options.only : Object.keys(SUITES);
  const unknown = names.filter((n) => !(n in SUITES));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown bench suite(s) ${unknown.join(', ')}; available: ${Object.keys(SUITES).join(', ')}`,
    );
  }
  const report: BenchReport = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    cases: [],
  };
  for (const name of names) {
    process.stderr.write(`running ${name}...\n`);
    const suite = await SUITES[name]!();
    for (const c of await suite.run()) report.cases.push({ suite: name, ...c });
  }
  process.stdout.write(`${formatTable(report.cases)}\n`);
  if (options.json) {
    await writeFileAtomic(options.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`report written to ${options.json}\n`);
  }
  return report;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('Measure our kernels against their baselines side by side and write a JSON report')
    .option('--json <file>', 'where to write the JSON report', 'bench-report.json')
    .option('--only <suites>', `comma-separated subset of: ${Object.keys(SUITES).join(', ')}`)
    .action(async (opts: { json: string; only?: string }) => {
      await runBench({
        json: opts.json,
        ...(opts.only ? { only: opts.only.split(',').map((s) => s.trim()) } : {}),
      });
    });
}
