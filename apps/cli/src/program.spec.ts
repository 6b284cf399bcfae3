import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runPeft } from './commands/test-support/checkpoints.js';

describe('peft', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    const run = await runPeft('--version');
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });

  it('a usage error prints the error and one line pointing to --help, not the whole help', async () => {
    const run = await runPeft('finetune', 'model', '--data', 'd.jsonl', '-o', 'out', '--r', 'abc');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--r "abc" is not valid: expected an integer >= 1');
    expect(run.stderr.trim().split('\n')).toHaveLength(2);
    expect(run.stderr).toContain('(add --help for usage)');
    expect(run.stderr).not.toContain('Options:');
  });

  it('lists the registered methods and quantizers as choices, and refuses an unknown plug-in clearly', async () => {
    const help = await runPeft('finetune', '--help');
    const flat = help.stdout.replace(/\s+/g, ' ');
    expect(flat).toMatch(/--method <name> .*\(choices: "lora", "vera", default: "vera"\)/);
    expect(flat).toMatch(/--quantize <type> .*\(choices: "none", "nf4", "fp4", default: "none"\)/);
    expect(flat).toContain('--lora-alpha <value> lora: lora_alpha');
    expect(flat).toContain('--blocksize <value> with --quantize nf4, fp4: elements per absmax block');
    const missing = await runPeft('--plugin', '@peft/no-such-method', 'plan', 'x');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/plug-in @peft\/no-such-method was not found/);
  });
});
