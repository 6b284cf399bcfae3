import { Module } from '@peft/core';

/** A plain container of named child modules (PyTorch's `ModuleDict`), e.g. one adapter per name. */
export class ModuleDict<T extends Module = Module> extends Module {
  constructor(entries: Iterable<[string, T]> = []) {
    super();
    for (const [name, module] of entries) this.registerModule(name, module);
  }

  set(name: string, module: T): void {
    this.registerModule(name, module);
  }

  get(name: string): T | undefined {
    return this.namedChildren().find(([n]) => n === name)?.[1] as T | undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  keys(): string[] {
    return this.namedChildren().map(([n]) => n);
  }

  entries(): [string, T][] {
    return this.namedChildren() as [string, T][];
  }

  /**
   * A new dict sharing every child but `name` (Module has no child removal; the owner swaps the new
   * dict in and disposes the removed child itself).
   */
  without(name: string): ModuleDict<T> {
    const next = new ModuleDict<T>(this.entries().filter(([n]) => n !== name));
    next.train(this.training);
    return next;
  }
}
