import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesPerElement, numElements, type TensorSource } from '@peft/core';
import { openCheckpointInput } from '@peft/models/node';
import {
  type Bnb4QuantizationSettings,
  decodeQuantStateJson,
  parseBnb4QuantizationConfig,
} from '@peft/quant-bnb4';
import type { Command } from 'commander';

export interface Bnb4TensorInfo {
  logicalShape: number[];
  quantType: string;
  blocksize: number;
  doubleQuant: boolean;
  dtype: string;
  /** Bits stored per logical weight: packed nibbles, absmax (or 8-bit codes + nested scales) and code tables. */
  bitsPerParameter: number;
}

export interface InspectedTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  bnb4?: Bnb4TensorInfo;
}

export interface InspectReport {
  path: string;
  kind: 'file' | 'folder';
  tensors: InspectedTensor[];
  totalBytes: number;
  quantizedWeights: number;
  /** The bitsandbytes 4-bit `quantization_config` of a folder's config.json, if it has one. */
  quantizationConfig?: Bnb4QuantizationSettings | null;
}

const MARKER = '.weight.quant_state.bitsandbytes__';
const STATE_PARTS = ['weight.absmax', 'weight.quant_map', 'weight.nested_absmax', 'weight.nested_quant_map'];

function bytesOf(source: TensorSource, key: string): number {
  const info = source.info(key);
  return numElements(info.shape) * bytesPerElement(info.dtype);
}

/** Lists every tensor of a file or model folder; reads only the small quant-state blobs, never weight data. */
export async function inspectCheckpoint(path: string): Promise<InspectReport> {
  const input = await openCheckpointInput(path);
  try {
    const source = input.source;
    const bnb = new Map<string, Bnb4TensorInfo>();
    for (const key of source.keys()) {
      const at = key.indexOf(MARKER);
      if (at < 0) continue;
      const prefix = key.slice(0, at + 1);
      const blob = await source.get(key);
      const state = decodeQuantStateJson(
        blob.data,
        { source: source.name, tensor: key },
        key.slice(at + MARKER.length),
      );
      const held = [`${prefix}weight`, ...STATE_PARTS.map((p) => prefix + p), key]
        .filter((k) => source.has(k) && k !== key)
        .reduce((sum, k) => sum + bytesOf(source, k), 0);
      const numel = numElements(state.shape);
      bnb.set(`${prefix}weight`, {
        logicalShape: [...state.shape],
        quantType: state.quantType,
        blocksize: state.blocksize,
        doubleQuant: state.nested !== null,
        dtype: state.dtype,
        bitsPerParameter: (held * 8) / numel,
      });
    }
    const tensors = source.keys().map((name): InspectedTensor => {
      const info = source.info(name);
      const entry: InspectedTensor = {
        name,
        dtype: info.dtype,
        shape: [...info.shape],
        bytes: bytesOf(source, name),
      };
      const q = bnb.get(name);
      if (q) entry.bnb4 = q;
      return entry;
    });
    const report: InspectReport = {
      path,
      kind: input.kind,
      tensors,
      totalBytes: tensors.reduce((s, t) => s + t.bytes, 0),
      quantizedWeights: bnb.size,
    };
    if (input.kind === 'folder') report.quantizationConfig = await folderQuantizationConfig(path);
    return report;
  } finally {
    await input.close();
  }
}

async function folderQuantizationConfig(dir: string): Promise<Bnb4QuantizationSettings | null> {
  let config: { quantization_config?: unknown };
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as {
      quantization_config?: unknown;
    };
  } catch {
    return null;
  }
  return parseBnb4QuantizationConfig(config.quantization_config);
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** A plain-text table, one tensor per line; 4-bit weights add their logical shape and quantization. */
export function formatInspectReport(report: InspectReport): string {
  const rows = report.tensors.map((t) => [
    t.name,
    t.dtype,
    shapeText(t.shape),
    t.bnb4 ? shapeText(t.bnb4.logicalShape) : '',
    t.bnb4 ? t.bnb4.quantType : '',
    t.bnb4 ? String(t.bnb4.blocksize) : '',
    t.bnb4 ? (t.bnb4.doubleQuant ? 'yes' : 'no') : '',
    t.bnb4 ? t.bnb4.bitsPerParameter.toFixed(3) : '',
  ]);
  const header = [
    'tensor',
    'dtype',
    'stored shape',
    'logical shape',
    'quant',
    'block',
    'nested',
    'bits/param',
  ];
  // A loop, not Math.max(...column): a checkpoint can have more tensors than a call may take arguments.
  const widths = header.map((h) => h.length);
  for (const row of rows) {
    for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, row[i]!.length);
  }
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = [
    `${report.path} (${report.kind}): ${report.tensors.length} tensors, ${report.quantizedWeights} bitsandbytes 4-bit weights, ` +
      `${report.totalBytes} bytes`,
  ];
  if (report.quantizationConfig) {
    const q = report.quantizationConfig;
    lines.push(
      `quantization_config: bitsandbytes 4-bit ${q.quantType}, double quant ${q.doubleQuant ? 'on' : 'off'}, compute dtype ${q.computeDtype}`,
    );
  }
  lines.push(line(header));
  for (const row of rows) lines.push(line(row));
  return `${lines.join('\n')}\n`;
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      'List the tensors of a .safetensors file or model folder, with the logical shape and quantization of 4-bit weights',
    )
    .argument('<path>', '.safetensors file or model folder')
    .option('--json', 'print a JSON report instead of a table')
    .action(async (path: string, opts: { json?: boolean }) => {
      const report = await inspectCheckpoint(path);
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspectReport(report));
    });
}
