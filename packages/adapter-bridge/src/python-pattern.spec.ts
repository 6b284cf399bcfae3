import { ConfigError } from '@peft/core';
import { describe, expect, it } from 'vitest';
import { checkTunerConfig, type TunerConfigFields } from './config/peft-config.js';
import { pythonPattern } from './python-pattern.js';
import { checkTargetModuleExists } from './targets.js';

// A realistic deep module path, repeated into inputs where a backtracking engine needs 2^n steps.
const PATH = 'base_model.model.model.layers.31.self_attn.q_proj';

describe('pythonPattern (Python re semantics on a linear-time engine)', () => {
  it('full-matches like re.fullmatch, alternation included', () => {
    expect(pythonPattern('.*\\.(q|v)_proj').fullMatch(PATH)).toBe(true);
    expect(pythonPattern('.*\\.(q|v)_proj').fullMatch(`${PATH}.lora_A`)).toBe(false);
    expect(pythonPattern('q_proj').fullMatch(PATH)).toBe(false);
    // re.fullmatch tries every alternative, not only the first one that matches a prefix.
    expect(pythonPattern('a|ab').fullMatch('ab')).toBe(true);
    expect(pythonPattern('.*layers\\.(?P<index>\\d+)\\..*').fullMatch(PATH)).toBe(true);
    expect(pythonPattern('\\A.*q_proj\\Z').fullMatch(PATH)).toBe(true);
    expect(pythonPattern('x{,2}').fullMatch('xx')).toBe(true);
    expect(pythonPattern('x{,2}').fullMatch('xxx')).toBe(false);
    expect(pythonPattern('[]a]+').fullMatch(']a]')).toBe(true);
    expect(pythonPattern('(?i)Q_PROJ').fullMatch('q_proj')).toBe(true);
  });

  it('matches at the start like re.match and returns named groups', () => {
    const layer = pythonPattern('layers', {
      field: 'layers_pattern',
      wrap: (p) => `.*?\\.${p}\\.(?P<index>\\d+)\\.`,
    });
    expect(layer.matchStart('model.layers.12.experts.3.w1')).toEqual({ index: '12' });
    expect(layer.matchStart('model.h.12.mlp')).toBeNull();
  });

  it('finishes on the classic catastrophic patterns over long inputs, with the right answers', () => {
    // Each input makes a backtracking engine (JavaScript's RegExp, Python's re) explore
    // exponentially many ways to split it before failing: 2^40 and more steps.
    const long = PATH.repeat(40);
    const cases: [pattern: string, input: string, expected: boolean][] = [
      ['(a+)+$', `${'a'.repeat(5000)}!`, false],
      ['(a+)+', 'a'.repeat(5000), true],
      ['(a|aa)+', `${'a'.repeat(5000)}b`, false],
      ['(a|a)*b', 'a'.repeat(5000), false],
      ['(.*a){20}', 'a'.repeat(5000), true],
      ['^(\\w+\\.?)*!$', long, false],
      ['^(\\w+\\.?)*!$', `${long}!`, true],
      ['(\\w+\\.?)*\\.q_proj', long.replace(/q_proj$/, 'k_proj'), false],
      ['(\\w|\\.)*x', long, false],
      ['(\\w+\\.)+(\\w+\\.)+z', long, false],
    ];
    for (const [pattern, input, expected] of cases) {
      expect([pattern, pythonPattern(pattern).fullMatch(input)]).toEqual([pattern, expected]);
    }
    // Through the target matcher too (a config's target_modules string).
    expect(
      checkTargetModuleExists(
        {
          target_modules: '^(\\w+\\.?)*!$',
          layers_to_transform: null,
          layers_pattern: null,
          modules_to_save: null,
        },
        long,
      ),
    ).toBe(false);
  });

  it('refuses backreferences and lookaround with a ConfigError naming the field and the construct', () => {
    const refused: [string, RegExp][] = [
      ['(a)\\1', /backreference "\\1"/],
      ['(?P<x>a)(?P=x)', /named backreference/],
      ['.*(?=q_proj)q_proj', /lookahead/],
      ['.*(?!k_proj)\\w+', /negative lookahead/],
      ['.*(?<=\\.)q_proj', /lookbehind/],
      ['.*(?<!k)_proj', /negative lookbehind/],
      ['(a)?(?(1)b|c)', /conditional/],
      ['(?>a+)b', /atomic group/],
    ];
    for (const [pattern, what] of refused) {
      const call = () => pythonPattern(pattern, { field: 'exclude_modules' });
      expect(call).toThrow(ConfigError);
      expect(call).toThrow(what);
      expect(call).toThrow(/"exclude_modules"/);
    }
    // Escaped or inside a class, the same characters are literals and fine.
    expect(pythonPattern('[\\1]x').fullMatch('\x01x')).toBe(true);
    expect(pythonPattern('\\(\\?=').fullMatch('(?=')).toBe(true);
    expect(pythonPattern('[(?=]+').fullMatch('(?=')).toBe(true);
  });

  it('reports invalid syntax as a ConfigError quoting the pattern as written', () => {
    expect(() => pythonPattern('(unclosed')).toThrow(ConfigError);
    expect(() => pythonPattern('(unclosed', { wrap: (p) => `x${p}` })).toThrow(/"\(unclosed"/);
  });

  it("checks a config's target_modules regex when the config is read, naming the file", () => {
    const config = { target_modules: '.*(?=q)q_proj', layers_pattern: null } as TunerConfigFields;
    expect(() => checkTunerConfig(config, 'adapters/x/adapter_config.json')).toThrow(
      /^adapters\/x\/adapter_config\.json: "target_modules" = ".*\(\?=q\)q_proj" uses a lookahead/,
    );
    expect(() =>
      checkTunerConfig({ ...config, target_modules: 'all-linear' }, 'adapter_config.json'),
    ).not.toThrow();
  });
});
