import type { Command } from 'commander';

/** Each command file exports one `register*Command(program)`; list them here in help order. */
export const commands: ((program: Command) => void)[] = [];
