import { ShapeMismatchError } from '@peft/core';
import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from './errors.js';

/** A [batch, time] grid of integers: nested arrays (rectangular) or an int32 tensor. */
export type TokenBatch = readonly (readonly number[])[] | tf.Tensor2D;

export interface HostBatch {
  readonly batch: number;
  readonly time: number;
  readonly data: Int32Array;
}

/** Copies a batch to the host, checking it is rectangular and integral; `name` appears in errors. */
export function toHostBatch(value: TokenBatch, name: string): HostBatch {
  if (!Array.isArray(value)) {
    const tensor = value as tf.Tensor2D;
    if (tensor.rank !== 2)
      throw new ShapeMismatchError(
        `${name} must be 2-D [batch, time], got shape ${JSON.stringify(tensor.shape)}`,
      );
    if (tensor.dtype !== 'int32')
      throw new ShapeMismatchError(`${name} must be an int32 tensor, got ${tensor.dtype}`);
    const [batch, time] = tensor.shape;
    if (batch === 0 || time === 0)
      throw new InputError(`${name} is empty; expected [batch, time] with both > 0`);
    return { batch, time, data: Int32Array.from(tensor.dataSync() as Int32Array) };
  }
  const rows = value as readonly (readonly number[])[];
  const batch = rows.length;
  const time = rows[0]?.length ?? 0;
  if (batch === 0 || time === 0)
    throw new InputError(`${name} is empty; expected [batch, time] with both > 0`);
  const data = new Int32Array(batch * time);
  rows.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== time) {
      throw new ShapeMismatchError(
        `${name} row ${b} has ${Array.isArray(row) ? row.length : 'no'} entries; every row needs ${time}`,
      );
    }
    row.forEach((v, t) => {
      if (!Number.isInteger(v) || Math.abs(v) > 2 ** 31 - 1) {
        throw new InputError(`${name}[${b}][${t}] = ${v} is not a 32-bit integer`);
      }
      data[b * time + t] = v;
    });
  });
  return { batch, time, data };
}

/** Checks that `other` has the shape of `ids`. */
export function assertSameShape(ids: HostBatch, other: HostBatch, name: string): void {
  if (other.batch !== ids.batch || other.time !== ids.time) {
    throw new ShapeMismatchError(
      `${name} is [${other.batch}, ${other.time}] but inputIds is [${ids.batch}, ${ids.time}]`,
    );
  }
}

/** Checks every value is in [0, limit) or one of `allowed`; names the first bad entry. */
export function assertRange(
  batch: HostBatch,
  limit: number,
  name: string,
  allowed: readonly number[] = [],
): void {
  const { data, time } = batch;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if ((v < 0 || v >= limit) && !allowed.includes(v)) {
      const extra = allowed.length ? ` or ${allowed.join(', ')}` : '';
      throw new InputError(
        `${name}[${Math.floor(i / time)}][${i % time}] = ${v} is outside [0, ${limit})${extra}`,
      );
    }
  }
}
