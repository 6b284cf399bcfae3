import { RegistryError, SpecificationVersionError } from '@peft/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyPeftMethod } from './method.js';
import {
  getPeftMethod,
  packageForPeftType,
  registeredPeftTypes,
  registerPeftMethod,
  unregisterPeftMethod,
} from './registry.js';
import { toyMethod } from './test-support/toy-method.js';

afterEach(() => {
  unregisterPeftMethod('TOY');
});

describe('method registry', () => {
  it('finds a registered method by peft_type and keeps the first registration of a type', () => {
    registerPeftMethod(toyMethod);
    const copy: AnyPeftMethod = { ...toyMethod, packageName: '@peft/toy-copy' };
    registerPeftMethod(copy);
    expect(getPeftMethod('TOY').packageName).toBe('@peft/toy');
    registerPeftMethod(copy, { replace: true });
    expect(getPeftMethod('TOY').packageName).toBe('@peft/toy-copy');
    expect(registeredPeftTypes()).toContain('TOY');
  });

  it('is shared by every copy of the bridge through globalThis', () => {
    registerPeftMethod(toyMethod);
    const store = (globalThis as unknown as Record<symbol, Map<string, unknown>>)[
      Symbol.for('@peft/registry/peft-methods')
    ];
    expect(store?.get('TOY')).toBe(toyMethod);
  });

  it('names the package to install for an unknown type', () => {
    expect(() => getPeftMethod('LORA')).toThrow(RegistryError);
    expect(() => getPeftMethod('LORA')).toThrow(/install @peft\/lora and import it/);
    expect(packageForPeftType('VERA')).toBe('@peft/vera');
    expect(packageForPeftType('ADALORA')).toBe('@peft/adalora');
  });

  it('refuses a method built against an unknown contract version', () => {
    const future = { ...toyMethod, specificationVersion: 'v9' } as unknown as AnyPeftMethod;
    expect(() => registerPeftMethod(future)).toThrow(SpecificationVersionError);
  });
});
