import { PeftError } from '@peft/core';
import { FileSystemError } from '@peft/core/node';
import { CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommandExit, EXIT } from './exit-codes.js';
import { reportError } from './report-error.js';

let stderr = '';
beforeEach(() => {
  stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** An error shaped as Node's fs functions throw them (a read-only disk cannot be made here: tests run as root). */
function errnoError(code: string, syscall: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, errno: -30, syscall, path });
}

describe('reportError', () => {
  it.each([
    ['EROFS', 'open', 'the file system is read-only'],
    ['EACCES', 'mkdir', 'permission denied'],
    ['ENOSPC', 'write', 'no space left on the device'],
    ['EEXIST', 'mkdir', 'something already exists there'],
    ['ENOTDIR', 'open', 'a part of the path is a file, not a folder'],
  ])(
    'a raw %s from any command is the user’s situation: exit 3, one line naming the path',
    (code, syscall, reason) => {
      expect(reportError(errnoError(code, syscall, '/models/out/model.safetensors'))).toBe(EXIT.badInput);
      expect(stderr).toMatch(
        new RegExp(
          `^error: cannot [a-z ]+ /models/out/model\\.safetensors: ${reason} \\(${code}\\);[^\\n]+\\.\\n$`,
        ),
      );
    },
  );

  it('typed errors exit 3 with their message; a FileSystemError is one of them', () => {
    expect(reportError(new FileSystemError('ENOSPC', '/x', 'cannot write /x: disk full.'))).toBe(3);
    expect(reportError(new PeftError('SOMETHING', 'bad input.'))).toBe(3);
    expect(stderr).toBe('error: cannot write /x: disk full.\nerror: bad input.\n');
  });

  it('anything else is an internal error with its stack; usage errors and explicit exits keep their codes', () => {
    expect(reportError(new TypeError('oops'))).toBe(EXIT.internal);
    expect(stderr).toMatch(/^internal error: TypeError: oops\n\s+at /);
    expect(reportError(Object.assign(new Error('x'), { code: 'ERR_UNKNOWN_THING' }))).toBe(EXIT.internal);
    expect(reportError(new CommanderError(1, 'commander.unknownOption', 'bad'))).toBe(EXIT.usage);
    expect(reportError(new CommanderError(0, 'commander.helpDisplayed', ''))).toBe(EXIT.ok);
    expect(reportError(new CommandExit(130))).toBe(130);
  });
});
