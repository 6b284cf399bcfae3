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
    expect(registeredPeftTypes()).not.toContain('TOY');
  });

  it('says which package to upgrade: the bridge for a newer method, the method package for an older one', () => {
    const newer = { ...toyMethod, specificationVersion: 'v3' } as unknown as AnyPeftMethod;
    expect(() => registerPeftMethod(newer)).toThrow(
      'PEFT method "TOY" from @peft/toy implements specification version "v3", but this @peft/adapter-bridge ' +
        'supports "v1", "v2". Upgrade @peft/adapter-bridge: PEFT method "TOY" from @peft/toy was built for a newer ' +
        'contract than this one knows.',
    );
    const older = { ...toyMethod, specificationVersion: 'v0' } as unknown as AnyPeftMethod;
    expect(() => registerPeftMethod(older)).toThrow(
      /Upgrade @peft\/toy to a release built for "v2": it was built for an older contract/,
    );
    const garbled = { ...toyMethod, specificationVersion: 1 } as unknown as AnyPeftMethod;
    expect(() => registerPeftMethod(garbled)).toThrow(
      /Upgrade whichever of @peft\/adapter-bridge and @peft\/toy is older/,
    );
  });
});
