import { describe, expect, it } from 'vitest';
import { adapterSubfolder } from './adapter-files.js';
import { AdapterNameError, assertValidAdapterName } from './adapter-name.js';

describe('adapter names', () => {
  it('accepts ordinary names and maps them to PEFT folders', () => {
    for (const ok of ['default', 'my-adapter', 'task_2', 'Ünïcode'])
      expect(() => assertValidAdapterName(ok)).not.toThrow();
    expect(adapterSubfolder('default')).toBe('');
    expect(adapterSubfolder('task_2')).toBe('task_2/');
  });

  it.each([
    '',
    ' ',
    '.',
    '..',
    '../up',
    'a/b',
    'a\\b',
    '/etc',
    '\\\\server',
    'C:evil',
    'a.b',
    'tab\there',
    'nul\u0000',
  ])('rejects %j', (bad) => {
    expect(() => assertValidAdapterName(bad)).toThrow(AdapterNameError);
  });
});
