import * as tf from '@tensorflow/tfjs-core';

// Written here rather than taken from TensorFlow.js: `tf.engine().gradients` keeps every node's saved tensors and
// every intermediate gradient until the whole backward pass ends, so a training step's peak holds the forward
// activations and all of their gradients at once. PyTorch frees each as soon as the backward pass is past it; no
// maintained package does that for TensorFlow.js. This walks the same tape the engine records, with the engine's
// checks, and frees as it goes.

/** One recorded op, as tfjs-core's engine keeps it on its tape (the fields read here). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

/** The parts of the engine's state a gradient call reads and writes. */
interface TapeState {
  activeTape: TapeNode[] | null;
  gradientDepth: number;
}

function tapeState(): TapeState {
  return (tf.engine() as unknown as { state: TapeState }).state;
}

export interface FrugalGradients {
  value: tf.Tensor;
  grads: (tf.Tensor | undefined)[];
}

/**
 * `tf.engine().gradients(f, xs, dy, true)` with the same values and checks, freeing memory as the backward pass
 * goes: an op's saved tensors once its gradient is taken, a tensor's gradient once it has been passed on to the
 * op's inputs. Peak memory is then the forward pass's saved tensors plus the gradients in flight, not both whole.
 * `grads[i]` is undefined where `f` does not depend on `xs[i]`. Inside an enclosing tape (higher-order gradients)
 * nothing may be freed early, and the engine's own call runs instead.
 */
export function frugalGradients(
  f: () => tf.Tensor,
  xs: readonly tf.Tensor[],
  dy?: tf.Tensor,
): FrugalGradients {
  if (xs.length === 0) throw new Error('frugalGradients needs at least one x');
  if (dy !== undefined && dy.dtype !== 'float32') throw new Error(`dy must be float32, got ${dy.dtype}`);
  const state = tapeState();
  if (state.gradientDepth > 0) {
    const { value, grads } = tf.engine().gradients(f, [...xs], dy, true);
    return { value, grads: grads.map((g) => g ?? undefined) };
  }
  // Inside a backward pass in progress (a tf.customGrad gradient that recomputes its forward pass) the engine's
  // tape is that pass's: TensorFlow.js frees its saved tensors from it when the pass ends. It is put back below.
  const outerTape = state.activeTape;
  const tape: TapeNode[] = [];
  state.activeTape = tape;
  try {
    state.gradientDepth++;
    let y: tf.Tensor;
    try {
      y = tf.tidy('forward', f);
    } finally {
      state.gradientDepth--;
    }
    if (!(y instanceof tf.Tensor))
      throw new Error('the function given to frugalGradients must return a tensor');
    return tf.tidy('backward', () => {
      const accumulated = new GradientTable();
      accumulated.set(y.id, dy ?? tf.onesLike(y));
      const kept = new Set<number>(xs.map((x) => x.id));
      if (dy !== undefined) kept.add(y.id);
      backpropagate(connectingNodes(tape, xs, y), accumulated, kept);
      return { value: y, grads: xs.map((x) => accumulated.get(x.id)) };
    });
  } finally {
    for (const node of tape) for (const t of node.saved ?? []) t.dispose();
    state.activeTape = outerTape;
  }
}

/**
 * The gradient of each node's outputs passed on to its inputs, last node first. `kept` are tensor ids whose
 * gradient must outlive the walk (the xs, a caller's dy).
 */
function backpropagate(nodes: TapeNode[], accumulated: GradientTable, kept: Set<number>): void {
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    const dys = node.outputs.map((o) => accumulated.get(o.id) ?? null);
    if (!node.gradient)
      throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const inputGradients = node.gradient(dys);
    for (const inputName of Object.keys(node.inputs)) {
      const thunk = inputGradients[inputName];
      if (!thunk) {
        throw new Error(
          `Cannot backprop through input ${inputName}. Available gradients found: ${Object.keys(inputGradients)}.`,
        );
      }
      const dx = tf.tidy(thunk);
      const x = node.inputs[inputName]!;
      if (dx.dtype !== 'float32') {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input ${inputName} must have 'float32' dtype, but has '${dx.dtype}'`,
        );
      }
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${inputName}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
        );
      }
      const current = accumulated.get(x.id);
      if (current === undefined) accumulated.set(x.id, dx);
      else {
        accumulated.set(x.id, tf.add(current, dx));
        if (!accumulated.holds(current)) current.dispose();
        if (!accumulated.holds(dx)) dx.dispose();
      }
    }
    // Nothing reads this node's saved tensors or its outputs' gradients again: every consumer of an output comes
    // later on the tape and has been walked already.
    for (const t of node.saved ?? []) if (!accumulated.holds(t)) t.dispose();
    for (const output of node.outputs) {
      const gradient = accumulated.get(output.id);
      if (gradient === undefined || kept.has(output.id)) continue;
      accumulated.delete(output.id);
      if (!accumulated.holds(gradient)) gradient.dispose();
    }
  }
}

/**
 * The gradient of each tensor id so far, counting how many ids each gradient object is: a gradient function may
 * pass dy through unchanged, so one object can be the gradient of several tensors, and it may be freed only when it
 * is none's (checked in constant time per disposal).
 */
class GradientTable {
  private readonly byId = new Map<number, tf.Tensor>();
  private readonly holders = new Map<tf.Tensor, number>();

  get(id: number): tf.Tensor | undefined {
    return this.byId.get(id);
  }

  set(id: number, gradient: tf.Tensor): void {
    this.delete(id);
    this.byId.set(id, gradient);
    this.holders.set(gradient, (this.holders.get(gradient) ?? 0) + 1);
  }

  delete(id: number): void {
    const gradient = this.byId.get(id);
    if (gradient === undefined) return;
    this.byId.delete(id);
    const count = this.holders.get(gradient)! - 1;
    if (count === 0) this.holders.delete(gradient);
    else this.holders.set(gradient, count);
  }

  /** Whether `t` (the object itself) is still the gradient of some tensor. */
  holds(t: tf.Tensor): boolean {
    return this.holders.has(t);
  }
}

/** The nodes on a path from some x to y, with inputs that do not depend on any x left out (the engine's filter). */
function connectingNodes(tape: TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const output of node.outputs) fromX.add(output.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((output) => toY.has(output.id))) {
      for (const input of Object.values(node.inputs)) toY.add(input.id);
      nodesToY.add(node.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id)) inputs[name] = input;
    filtered.push({ ...node, inputs });
  }
  return filtered;
}
