import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { globToRegExp } from './glob.js';
import { localPathOf, urlPathOf } from './hub-paths.js';

describe('globToRegExp', () => {
  const matches = (glob: string, path: string) => globToRegExp(glob).test(path);

  it('keeps * and ? inside one folder and lets ** cross folders', () => {
    expect(matches('*.json', 'config.json')).toBe(true);
    expect(matches('*.json', 'onnx/config.json')).toBe(false);
    expect(matches('**/*.json', 'onnx/config.json')).toBe(true);
    expect(matches('**/*.json', 'config.json')).toBe(true);
    expect(matches('model-*.safetensors', 'model-00001-of-00002.safetensors')).toBe(true);
    expect(matches('model?.bin', 'model1.bin')).toBe(true);
    expect(matches('onnx/**', 'onnx/a/b.onnx')).toBe(true);
  });

  it('treats regular-expression characters literally', () => {
    expect(matches('model.safetensors', 'modelXsafetensors')).toBe(false);
    expect(matches('a+(b).json', 'a+(b).json')).toBe(true);
  });
});

describe('localPathOf', () => {
  const dir = resolve('/tmp/peft-target');

  it('places repository paths under the folder', () => {
    expect(localPathOf('r/m', dir, 'config.json')).toBe(join(dir, 'config.json'));
    expect(localPathOf('r/m', dir, 'onnx/model.onnx')).toBe(join(dir, 'onnx', 'model.onnx'));
  });

  it.each(['', '..', '../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', 'a\u0000b', 'a/'])(
    'refuses %j',
    (path) => {
      expect(() => localPathOf('r/m', dir, path)).toThrow(
        expect.objectContaining({ code: 'HUB_LISTING_INVALID' }),
      );
    },
  );

  it('percent-encodes each URL segment', () => {
    expect(urlPathOf('a b/c#d?.json')).toBe('a%20b/c%23d%3F.json');
  });
});
