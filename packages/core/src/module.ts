import type * as tf from '@tensorflow/tfjs-core';
import { ModulePathError } from './errors.js';

/**
 * A node of a model's module tree, in the spirit of PyTorch's `nn.Module`: named children,
 * named parameters, dotted paths (`model.layers.0.self_attn.q_proj`) and a train/eval flag.
 *
 * Parents must look their children up by name at call time (`this.child('q_proj')`), never keep
 * a direct reference: adapter injection replaces children in place, and the parent then calls the
 * replacement.
 */
export abstract class Module {
  private readonly childModules = new Map<string, Module>();
  private readonly ownParameters = new Map<string, tf.Variable>();
  private trainingMode = false;

  get training(): boolean {
    return this.trainingMode;
  }

  /** Sets train mode on this module and every descendant (dropout is active only in train mode). */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.trainingMode = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  protected registerModule<T extends Module>(name: string, module: T): T {
    assertValidName(name);
    this.childModules.set(name, module);
    return module;
  }

  protected registerParameter(name: string, variable: tf.Variable): tf.Variable {
    assertValidName(name);
    this.ownParameters.set(name, variable);
    return variable;
  }

  /** The child named `name`; throws a `ModulePathError` listing the children that exist. */
  child<T extends Module = Module>(name: string): T {
    const found = this.childModules.get(name);
    if (!found) {
      throw new ModulePathError(
        name,
        `no child named "${name}"; children are: ${[...this.childModules.keys()].join(', ') || '(none)'}`,
      );
    }
    return found as T;
  }

  namedChildren(): [string, Module][] {
    return [...this.childModules.entries()];
  }

  /** Every module of the subtree with its dotted path, this one first (path ""). Depth first, in registration order. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.childModules) {
      yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
    }
  }

  /** This module's own parameters (not its children's). */
  ownNamedParameters(): [string, tf.Variable][] {
    return [...this.ownParameters.entries()];
  }

  /** Every parameter of the subtree with its dotted path. */
  *namedParameters(prefix = ''): Generator<[string, tf.Variable]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, v] of m.ownParameters) yield [path ? `${path}.${name}` : name, v];
    }
  }

  /** Variables an optimizer should update. */
  trainableVariables(): tf.Variable[] {
    return [...this.namedParameters()].map(([, v]) => v).filter((v) => v.trainable);
  }

  /** The module at a dotted path below this one; "" is this module. */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    let current: Module = this;
    const parts = path.split('.');
    for (let i = 0; i < parts.length; i++) {
      const next = current.childModules.get(parts[i]!);
      if (!next) {
        const at = parts.slice(0, i).join('.') || '(root)';
        throw new ModulePathError(
          path,
          `"${parts[i]}" is not a child of ${at}; its children are: ${[...current.childModules.keys()].join(', ') || '(none)'}`,
        );
      }
      current = next;
    }
    return current;
  }

  /** Replaces the module at a dotted path and returns the one it replaced. */
  setSubmodule(path: string, module: Module): Module {
    const cut = path.lastIndexOf('.');
    const parent = cut < 0 ? this : this.getSubmodule(path.slice(0, cut));
    const name = path.slice(cut + 1);
    const old = parent.childModules.get(name);
    if (!old) throw new ModulePathError(path, `cannot replace: "${name}" does not exist`);
    parent.childModules.set(name, module);
    return old;
  }

  /** Disposes this module's parameters and those of its children. */
  dispose(): void {
    for (const m of this.childModules.values()) m.dispose();
    for (const v of this.ownParameters.values()) v.dispose();
  }
}

function assertValidName(name: string): void {
  if (name === '' || name.includes('.')) {
    throw new ModulePathError(name, 'a module or parameter name must be non-empty and contain no "."');
  }
}

/** An ordered list of modules named "0", "1", ... (PyTorch's `nn.ModuleList`), e.g. a model's decoder layers. */
export class ModuleList<T extends Module = Module> extends Module {
  private count = 0;

  constructor(modules: Iterable<T> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(module: T): this {
    this.registerModule(String(this.count++), module);
    return this;
  }

  get length(): number {
    return this.count;
  }

  /** The i-th module as it is now (after any in-place replacement). */
  at(index: number): T {
    return this.child<T>(String(index));
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }
}
